//! A numbered push: offset, ring and fan-out under the room's lock, so that a join (which
//! takes the hub's state exclusively) sees every push either in the ring or live.

use super::envelope::NumberedPush;
use super::store::lock;
use crate::connection::conn::ConnId;
use crate::hub::deliver;
use crate::hub::report::BroadcastReport;
use crate::hub::Hub;

impl Hub {
    /// Numbers `push` with `room`'s next offset, keeps it, and delivers it to the room's
    /// members but `except`; the report's `offset` is the push's.
    pub(crate) async fn push_numbered(
        &self,
        room: &str,
        except: Option<ConnId>,
        push: &NumberedPush,
    ) -> BroadcastReport {
        let mut report = BroadcastReport::default();
        let waiting = {
            let registry = self.read();
            let Some(log) = self.inner.histories.log(room, &registry) else {
                return report;
            };
            let mut log = lock(&log);
            let (message, delta) = log.append(|epoch, offset| push.build(epoch, offset));
            self.inner.histories.account(delta);
            report.offset = Some(log.last());
            match registry.rooms.get(room) {
                Some(members) => {
                    let members = members
                        .iter()
                        .filter(|(id, _)| Some(**id) != except)
                        .map(|(_, sender)| sender);
                    deliver::fan_out_prepared(members, &message, true, &mut report)
                }
                None => Vec::new(),
            }
        };
        let mut waited = BroadcastReport::default();
        deliver::wait_for(waiting, &mut waited).await;
        report.delivered += waited.delivered;
        crate::metrics::broadcast(report.delivered, report.dropped, report.closed);
        report
    }
}
