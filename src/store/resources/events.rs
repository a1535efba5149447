//! Monitor Events' reads: the audit log as the API lists and fetches it. Events are written by
//! the store's write path ([`crate::store::audit`]) with the write that made the change; the one
//! write of their own is for a change made outside storage (an update a live call took).

use super::super::Result;
use super::super::backend::Written;
use crate::domain::Audit;

/// A write that changes nothing but records `audit` (when the store acts for the API).
async fn record_only(audit: Audit) -> Result<Written<()>> {
    Ok(Written::quiet(()).audited([audit]))
}

/// The store's operations on events.
mod operations {
    use crate::domain::{Audit, Event, EventFilter};
    use crate::sid::{AccountSid, EventSid};
    use crate::store::engine::run_write;
    use crate::store::queries::events as sql;
    use crate::store::{PageQuery, Result, Store};

    impl Store {
        /// Records `audit`, a change made outside storage, as an event of the caller (nothing
        /// on a store that does not act for one).
        pub async fn record_event(&self, audit: Audit) -> Result<()> {
            run_write!(self, (audit), |_tx| super::record_only(audit))
        }

        /// One event of `account`'s log.
        pub async fn get_event(
            &self,
            account: &AccountSid,
            sid: &EventSid,
        ) -> Result<Option<Event>> {
            let params = sql::by_sid(account, sid);
            self.read_one(sql::BY_SID, params, sql::event).await
        }

        /// A page of `account`'s events that pass `filter`, oldest first.
        pub async fn list_events(
            &self,
            account: &AccountSid,
            filter: &EventFilter,
            page: &PageQuery,
        ) -> Result<Vec<Event>> {
            self.read_all(sql::list(account, filter, page), sql::event)
                .await
        }
    }
}
