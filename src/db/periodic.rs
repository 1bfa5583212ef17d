//! A named background thread that works at intervals until its handle is dropped: the WAL
//! checkpointer and the statistics thread beside the writer.

use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use super::DbError;

/// The thread's side: waits between two rounds of work and learns when to stop.
pub struct Signal(Arc<(Mutex<bool>, Condvar)>);

impl Signal {
    /// Waits up to `interval`; true once the thread is asked to stop.
    pub fn wait(&self, interval: Duration) -> bool {
        let (flag, wake) = &*self.0;
        let Ok(guard) = flag.lock() else {
            return true;
        };
        if *guard {
            return true;
        }
        match wake.wait_timeout(guard, interval) {
            Ok((guard, _)) => *guard,
            Err(_) => true,
        }
    }
}

/// The owner's side: dropping it asks the thread to stop and waits for it to end.
pub struct Periodic {
    signal: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl Periodic {
    /// Starts thread `name` running `body`, which loops on [`Signal::wait`].
    pub fn spawn(name: &str, body: impl FnOnce(Signal) + Send + 'static) -> Result<Self, DbError> {
        let signal = Arc::new((Mutex::new(false), Condvar::new()));
        let theirs = Signal(Arc::clone(&signal));
        let thread = thread::Builder::new()
            .name(name.to_string())
            .spawn(move || body(theirs))
            .map_err(DbError::Thread)?;
        Ok(Self {
            signal,
            thread: Some(thread),
        })
    }
}

impl Drop for Periodic {
    fn drop(&mut self) {
        let (flag, wake) = &*self.signal;
        if let Ok(mut stop) = flag.lock() {
            *stop = true;
        }
        wake.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
