use ws_controller::{ws_controller, Conn, Error};

struct Echo;

#[ws_controller(path = "/echo")]
impl Echo {
    #[serve]
    async fn serve(&self, conn: Conn) -> Result<(), Error> {
        drop(conn);
        Ok(())
    }

    #[on_text]
    async fn said(&self, text: String) -> String {
        text
    }
}

fn main() {}
