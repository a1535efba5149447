//! The open TCP connections, by id, so that a response relayed from the upstream can be written
//! to the client's connection (and a request to a TCP target to the edge's own connection to it).

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Mutex;

use tokio::sync::mpsc;

/// Messages waiting to be written to one TCP connection; more are dropped.
const TCP_QUEUE: usize = 256;

/// Open TCP connections, for responses relayed from the upstream, by id.
///
/// Ids are random 64-bit numbers, unique among open connections: a connection's id rides in
/// sipmap's Via (`sm-conn`), so a sequential id would let anyone name another client's
/// connection (the branch tag, see [`super::edge`], is what actually forbids that; random ids are a
/// second fence).
#[derive(Debug, Default)]
pub(super) struct Connections {
    open: Mutex<HashMap<u64, mpsc::Sender<Vec<u8>>>>,
}

impl Connections {
    /// Registers a new connection: its id and the queue of what to write to it.
    pub(super) fn register(&self) -> (u64, mpsc::Receiver<Vec<u8>>) {
        let (tx, rx) = mpsc::channel::<Vec<u8>>(TCP_QUEUE);
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            let id = rand::random::<u64>();
            if let Entry::Vacant(slot) = open.entry(id) {
                slot.insert(tx);
                return (id, rx);
            }
        }
    }

    /// How many connections are open (accepted and outbound).
    pub(super) fn len(&self) -> usize {
        self.open.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub(super) fn remove(&self, id: u64) {
        self.open
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
    }

    /// Queues `bytes` for connection `id`; gives them back if it is not open (what is queued
    /// beyond [`TCP_QUEUE`] is dropped, and counts as sent).
    pub(super) fn send(&self, id: u64, bytes: Vec<u8>) -> Result<(), Vec<u8>> {
        let sender = self
            .open
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
            .cloned();
        match sender {
            Some(s) => match s.try_send(bytes) {
                Err(mpsc::error::TrySendError::Closed(bytes)) => Err(bytes),
                _ => Ok(()),
            },
            None => Err(bytes),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_ids_are_random_and_unique() {
        let conns = Connections::default();
        let ids: Vec<u64> = (0..1000).map(|_| conns.register().0).collect();
        let distinct: std::collections::HashSet<u64> = ids.iter().copied().collect();
        assert_eq!(distinct.len(), ids.len());
        assert!(
            ids.windows(2).all(|w| w[1] != w[0].wrapping_add(1)),
            "ids are not a sequence"
        );
        assert!(
            ids.iter().any(|&id| id > u64::from(u32::MAX)),
            "ids use all 64 bits"
        );
        conns.remove(ids[0]);
        assert_eq!(
            conns.open.lock().unwrap().len(),
            ids.len() - 1,
            "a closed connection's id is released"
        );
    }
}
