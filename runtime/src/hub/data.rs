//! Queries over the connections' typed data (see `Sender::insert`).

use crate::connection::sender::Sender;
use crate::hub::Hub;

impl Hub {
    /// The registered connections whose data of type `D` matches `predicate`: "every
    /// connection of user X" is `hub.find(|user: &User| user.id == x)`.
    pub fn find<D: Send + Sync + 'static>(&self, predicate: impl Fn(&D) -> bool) -> Vec<Sender> {
        self.ids()
            .into_iter()
            .filter_map(|id| self.get(id))
            .filter(|sender| sender.with_data(|value: Option<&D>| value.is_some_and(&predicate)))
            .collect()
    }
}
