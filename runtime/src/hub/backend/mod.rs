//! Brokers a hub can span processes over; each implements
//! [`Transport`](super::cluster::transport::Transport) for its client crate.

#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "redis")]
mod redis_cluster;
#[cfg(feature = "redis")]
mod redis_push;
