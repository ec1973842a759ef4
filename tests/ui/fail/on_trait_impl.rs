use ws_controller::{ws_controller, Conn, Controller, Error};

struct Echo;

#[ws_controller(path = "/echo")]
impl Controller for Echo {
    type Extract = ();

    async fn serve(&self, _conn: Conn, _: ()) -> Result<(), Error> {
        Ok(())
    }
}

fn main() {}
