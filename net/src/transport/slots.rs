//! Connection slots per client address: how many connections one address holds, and how many of
//! those are not logged in yet (handshaking, or connected without a login). One host can then
//! no longer take every connection permit, and an address flooding handshakes is refused while
//! its logged-in players keep playing.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Per-address bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlotLimits {
    /// Connections from one address (logged in or not).
    pub per_ip: usize,
    /// Connections from one address not logged in yet.
    pub unauthenticated_per_ip: usize,
}

/// Why a connection got no slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SlotRefused {
    /// The address holds its maximum of connections.
    #[error("{held} connections from this address (limit {limit})")]
    PerIp {
        /// Connections held.
        held: usize,
        /// The limit.
        limit: usize,
    },
    /// The address holds its maximum of connections not logged in.
    #[error("{held} connections from this address not logged in yet (limit {limit})")]
    Unauthenticated {
        /// Unauthenticated connections held.
        held: usize,
        /// The limit.
        limit: usize,
    },
}

#[derive(Default)]
struct Held {
    all: usize,
    unauthenticated: usize,
}

#[derive(Default)]
struct Counts {
    by_ip: HashMap<IpAddr, Held>,
    unauthenticated: usize,
}

/// The slot table of one server.
pub(crate) struct Slots {
    limits: SlotLimits,
    counts: Mutex<Counts>,
}

/// One connection's slot; given back on drop.
pub(crate) struct Slot {
    slots: Arc<Slots>,
    ip: IpAddr,
    authenticated: bool,
}

impl Slots {
    pub(crate) fn new(limits: SlotLimits) -> Arc<Slots> {
        Arc::new(Slots {
            limits,
            counts: Mutex::new(Counts::default()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counts> {
        // Counter updates cannot panic half-way; a poisoned lock still holds consistent counts.
        self.counts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A slot for a new, unauthenticated connection from `ip`, if the address has room.
    pub(crate) fn take(self: &Arc<Self>, ip: IpAddr) -> Result<Slot, SlotRefused> {
        let mut c = self.lock();
        let held = c.by_ip.entry(ip).or_default();
        let refused = if held.all >= self.limits.per_ip.max(1) {
            Some(SlotRefused::PerIp {
                held: held.all,
                limit: self.limits.per_ip.max(1),
            })
        } else if held.unauthenticated >= self.limits.unauthenticated_per_ip.max(1) {
            Some(SlotRefused::Unauthenticated {
                held: held.unauthenticated,
                limit: self.limits.unauthenticated_per_ip.max(1),
            })
        } else {
            None
        };
        if let Some(r) = refused {
            if held.all == 0 {
                c.by_ip.remove(&ip);
            }
            return Err(r);
        }
        held.all += 1;
        held.unauthenticated += 1;
        c.unauthenticated += 1;
        Ok(Slot {
            slots: self.clone(),
            ip,
            authenticated: false,
        })
    }

    /// Connections not logged in yet, all addresses.
    pub(crate) fn unauthenticated(&self) -> usize {
        self.lock().unauthenticated
    }
}

impl Slot {
    /// The connection logged in: it no longer counts against the unauthenticated limits.
    pub(crate) fn authenticated(&mut self) {
        if self.authenticated {
            return;
        }
        self.authenticated = true;
        let mut c = self.slots.lock();
        c.unauthenticated = c.unauthenticated.saturating_sub(1);
        if let Some(h) = c.by_ip.get_mut(&self.ip) {
            h.unauthenticated = h.unauthenticated.saturating_sub(1);
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut c = self.slots.lock();
        if !self.authenticated {
            c.unauthenticated = c.unauthenticated.saturating_sub(1);
        }
        let empty = match c.by_ip.get_mut(&self.ip) {
            Some(h) => {
                h.all = h.all.saturating_sub(1);
                if !self.authenticated {
                    h.unauthenticated = h.unauthenticated.saturating_sub(1);
                }
                h.all == 0
            }
            None => false,
        };
        if empty {
            c.by_ip.remove(&self.ip);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_bounded_and_logging_in_frees_a_handshake_slot() {
        let slots = Slots::new(SlotLimits {
            per_ip: 3,
            unauthenticated_per_ip: 2,
        });
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let mut s1 = slots.take(a).unwrap();
        let s2 = slots.take(a).unwrap();
        assert_eq!(
            slots.take(a).err(),
            Some(SlotRefused::Unauthenticated { held: 2, limit: 2 })
        );
        let _other = slots.take(b).expect("another address is not affected");
        s1.authenticated();
        let _s3 = slots.take(a).unwrap();
        assert_eq!(
            slots.take(a).err(),
            Some(SlotRefused::PerIp { held: 3, limit: 3 })
        );
        assert_eq!(slots.unauthenticated(), 3);
        drop(s2);
        let _s4 = slots
            .take(a)
            .expect("a closed connection gives its slot back");
        drop((s1, _s3, _s4, _other));
        assert_eq!(slots.unauthenticated(), 0);
        assert!(slots.lock().by_ip.is_empty());
    }
}
