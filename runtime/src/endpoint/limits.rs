//! Connection limits: per controller, server-wide and per client address. Each admitted
//! connection holds a slot of every limit that applies, an RAII guard that lives in the
//! connection's task, so the slot is freed however the connection ends (closed, failed,
//! panicked, or its upgrade never completed).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use http::request::Parts;
use http::HeaderName;

use crate::connection::shared::lock;
use crate::UpgradeError;

/// A cap on open connections.
#[derive(Debug)]
pub(crate) struct Cap {
    open: AtomicUsize,
    max: usize,
}

impl Cap {
    pub(crate) fn new(max: usize) -> Arc<Self> {
        Arc::new(Self {
            open: AtomicUsize::new(0),
            max,
        })
    }

    /// A slot, unless the cap is reached.
    fn take(self: &Arc<Self>) -> Option<Slot> {
        self.open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| {
                (open < self.max).then_some(open + 1)
            })
            .ok()
            .map(|_| Slot(self.clone()))
    }

    /// Connections holding a slot now.
    #[cfg(test)]
    fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }
}

/// One open connection counted by a [`Cap`].
pub(crate) struct Slot(Arc<Cap>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The server-wide cap, put by `ws_controller::serve` into every request's extensions.
#[derive(Debug, Clone)]
pub(crate) struct ServerCap(pub(crate) Arc<Cap>);

/// A cap on open connections per client address.
#[derive(Debug)]
pub(crate) struct ClientCap {
    /// Open connections by address; an address leaves the map with its last connection.
    open: Mutex<HashMap<IpAddr, usize>>,
    max: usize,
    header: Option<HeaderName>,
}

impl ClientCap {
    pub(crate) fn new(max: usize, header: Option<HeaderName>) -> Arc<Self> {
        Arc::new(Self {
            open: Mutex::new(HashMap::new()),
            max,
            header,
        })
    }

    fn take(self: &Arc<Self>, addr: IpAddr) -> Option<ClientSlot> {
        let mut open = lock(&self.open);
        let count = open.entry(addr).or_insert(0);
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(ClientSlot(self.clone(), addr))
    }

    /// The client's address: the trusted header's last entry, else the peer's.
    fn client(&self, parts: &Parts, peer: Option<SocketAddr>) -> Option<IpAddr> {
        let forwarded = self.header.as_ref().and_then(|name| {
            let value = parts.headers.get_all(name).iter().next_back()?;
            let last = value.to_str().ok()?.rsplit(',').next()?.trim();
            // `x-forwarded-for` may carry a port (`1.2.3.4:5678`, `[::1]:5678`).
            last.parse::<IpAddr>()
                .ok()
                .or_else(|| last.parse::<SocketAddr>().ok().map(|a| a.ip()))
        });
        forwarded.or(peer.map(|p| p.ip()))
    }
}

/// One open connection counted by a [`ClientCap`].
pub(crate) struct ClientSlot(Arc<ClientCap>, IpAddr);

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut open = lock(&self.0.open);
        if let Some(count) = open.get_mut(&self.1) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.1);
            }
        }
    }
}

/// The limits of one controller's route.
#[derive(Debug, Default)]
pub(crate) struct RouteLimits {
    pub(crate) connections: Option<Arc<Cap>>,
    pub(crate) per_client: Option<Arc<ClientCap>>,
}

impl RouteLimits {
    pub(crate) fn new(settings: &crate::Settings) -> Self {
        Self {
            connections: settings.max_connections.map(Cap::new),
            per_client: settings
                .max_connections_per_client
                .map(|max| ClientCap::new(max, settings.client_address_header.clone())),
        }
    }

    /// Takes a slot of every limit that applies to this upgrade, or says which is reached.
    pub(crate) fn admit(
        &self,
        parts: &Parts,
        peer: Option<SocketAddr>,
    ) -> Result<Admission, UpgradeError> {
        let mut admission = Admission::default();
        if let Some(cap) = &self.connections {
            admission._route = Some(
                cap.take()
                    .ok_or(UpgradeError::TooManyConnections { limit: cap.max })?,
            );
        }
        if let Some(ServerCap(cap)) = parts.extensions.get::<ServerCap>() {
            admission._server = Some(
                cap.take()
                    .ok_or(UpgradeError::ServerFull { limit: cap.max })?,
            );
        }
        if let Some(cap) = &self.per_client {
            if let Some(addr) = cap.client(parts, peer) {
                admission._client = Some(
                    cap.take(addr)
                        .ok_or(UpgradeError::TooManyFromClient { limit: cap.max })?,
                );
            }
        }
        Ok(admission)
    }
}

/// The slots an admitted connection holds; dropped with the connection's task.
#[derive(Default)]
pub(crate) struct Admission {
    _route: Option<Slot>,
    _server: Option<Slot>,
    _client: Option<ClientSlot>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(forwarded: Option<&str>) -> Parts {
        let mut request = http::Request::builder();
        if let Some(value) = forwarded {
            request = request.header("x-forwarded-for", value);
        }
        request.body(()).unwrap().into_parts().0
    }

    #[test]
    fn slots_free_when_dropped() {
        let cap = Cap::new(2);
        let a = cap.take().unwrap();
        let _b = cap.take().unwrap();
        assert!(cap.take().is_none());
        drop(a);
        assert_eq!(cap.open(), 1);
        assert!(cap.take().is_some());
    }

    #[test]
    fn client_slots_count_per_address_and_leave_no_entry() {
        let cap = ClientCap::new(1, None);
        let one: IpAddr = "10.0.0.1".parse().unwrap();
        let two: IpAddr = "10.0.0.2".parse().unwrap();
        let slot = cap.take(one).unwrap();
        assert!(cap.take(one).is_none());
        assert!(cap.take(two).is_some());
        drop(slot);
        assert!(lock(&cap.open).is_empty());
    }

    #[test]
    fn the_trusted_header_names_the_client() {
        let peer = Some("127.0.0.1:9".parse().unwrap());
        let cap = ClientCap::new(1, Some(HeaderName::from_static("x-forwarded-for")));
        let client = |value| cap.client(&parts(value), peer).unwrap().to_string();
        assert_eq!(client(Some("1.1.1.1, 203.0.113.7")), "203.0.113.7");
        assert_eq!(client(Some("[2001:db8::1]:443")), "2001:db8::1");
        assert_eq!(client(Some("garbage")), "127.0.0.1");
        assert_eq!(client(None), "127.0.0.1");
        let untrusted = ClientCap::new(1, None);
        let addr = untrusted.client(&parts(Some("1.1.1.1")), peer).unwrap();
        assert_eq!(addr.to_string(), "127.0.0.1");
    }
}
