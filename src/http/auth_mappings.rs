//! API 2010 SIP domain authentication mappings, by their five paths:
//! `…/SIP/Domains/{Sid}/IpAccessControlListMappings` and `…/CredentialListMappings` (the older
//! paths), `…/Auth/Calls/IpAccessControlListMappings`, `…/Auth/Calls/CredentialListMappings` and
//! `…/Auth/Registrations/CredentialListMappings`. An older path and its `Auth/Calls` twin are
//! two views of one set of mappings. A mapping's SID is its list's.

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use serde::Serialize;

use super::extract::{AccountPath, Form, Query};
use super::paging::{PageRequest, to_value};
use super::wire::{
    AUTH_CALLS_ACL_MAPPINGS, AUTH_CALLS_CREDENTIAL_LIST_MAPPINGS,
    AUTH_REGISTRATIONS_CREDENTIAL_LIST_MAPPINGS, SIP_DOMAIN_ACL_MAPPINGS,
    SIP_DOMAIN_CREDENTIAL_LIST_MAPPINGS, V2010Child,
};
use super::{Answer, AppState, json};
use crate::domain::{AuthKind, AuthMapping, MappedList, Reason};
use crate::error::ApiError;
use crate::sid::{AclSid, CredentialListSid, SipDomainSid};
use crate::timefmt::V2010Date;

/// One of the five paths.
#[derive(Debug, Clone, Copy)]
struct MappingPath {
    wire: &'static V2010Child,
    kind: AuthKind,
    /// The older paths show `domain_sid` and `uri`.
    legacy: bool,
}

const PATHS: [MappingPath; 5] = [
    MappingPath {
        wire: &SIP_DOMAIN_ACL_MAPPINGS,
        kind: AuthKind::CallsAcl,
        legacy: true,
    },
    MappingPath {
        wire: &SIP_DOMAIN_CREDENTIAL_LIST_MAPPINGS,
        kind: AuthKind::CallsCredentials,
        legacy: true,
    },
    MappingPath {
        wire: &AUTH_CALLS_ACL_MAPPINGS,
        kind: AuthKind::CallsAcl,
        legacy: false,
    },
    MappingPath {
        wire: &AUTH_CALLS_CREDENTIAL_LIST_MAPPINGS,
        kind: AuthKind::CallsCredentials,
        legacy: false,
    },
    MappingPath {
        wire: &AUTH_REGISTRATIONS_CREDENTIAL_LIST_MAPPINGS,
        kind: AuthKind::RegistrationCredentials,
        legacy: false,
    },
];

/// The routes of all five paths.
pub fn router() -> Router<AppState> {
    PATHS.into_iter().fold(Router::new(), |r, p| {
        r.route(
            &p.wire.list_route(),
            get(move |at: AccountPath, q: Query| list(p, at, q))
                .post(move |at: AccountPath, f: Form| create(p, at, f)),
        )
        .route(
            &p.wire.instance_route(),
            get(move |at: AccountPath| fetch(p, at)).delete(move |at: AccountPath| remove(p, at)),
        )
    })
}

impl MappingPath {
    /// The form parameter that names the list.
    fn parameter(self) -> &'static str {
        match self.kind {
            AuthKind::CallsAcl => "IpAccessControlListSid",
            AuthKind::CallsCredentials | AuthKind::RegistrationCredentials => "CredentialListSid",
        }
    }

    /// The list a SID names, if it is a SID of this path's kind of list.
    fn list(self, sid: &str) -> Option<MappedList> {
        match self.kind {
            AuthKind::CallsAcl => AclSid::parse(sid).map(MappedList::Acl),
            AuthKind::CallsCredentials | AuthKind::RegistrationCredentials => {
                CredentialListSid::parse(sid).map(MappedList::Credentials)
            }
        }
    }

    fn prefix(self) -> &'static str {
        match self.kind {
            AuthKind::CallsAcl => AclSid::PREFIX,
            AuthKind::CallsCredentials | AuthKind::RegistrationCredentials => {
                CredentialListSid::PREFIX
            }
        }
    }
}

#[derive(Serialize)]
struct MappingView<'a> {
    account_sid: &'a str,
    date_created: V2010Date,
    date_updated: V2010Date,
    #[serde(skip_serializing_if = "Option::is_none")]
    domain_sid: Option<&'a str>,
    friendly_name: &'a str,
    sid: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    uri: Option<String>,
}

fn view(p: MappingPath, m: &AuthMapping) -> MappingView<'_> {
    MappingView {
        account_sid: m.account_sid.as_str(),
        date_created: V2010Date(m.date_created),
        date_updated: V2010Date(m.date_updated),
        domain_sid: p.legacy.then(|| m.domain_sid.as_str()),
        friendly_name: &m.friendly_name,
        sid: m.list.as_str(),
        uri: p
            .legacy
            .then(|| p.wire.uri(&m.account_sid, &m.domain_sid, &m.list)),
    }
}

/// The mapped list of an instance path (`AL….json` or `CL….json`); a malformed one is this
/// path's 404.
fn instance(p: MappingPath, at: &AccountPath) -> Result<MappedList, ApiError> {
    let segment = at.child.as_deref().unwrap_or_default();
    segment
        .strip_suffix(".json")
        .and_then(|s| p.list(s))
        .ok_or_else(|| at.not_found())
}

async fn create(p: MappingPath, at: AccountPath, form: Form) -> Answer {
    let domain: SipDomainSid = at.parent()?;
    let name = p.parameter();
    let raw = crate::domain::required(&form, name)?;
    let list = p.list(raw).ok_or_else(|| {
        let reason = Reason::NotSid {
            value: raw.to_owned(),
            prefix: p.prefix(),
            explained: false,
        };
        ApiError::invalid(name, reason)
    })?;
    let store = &at.app.store;
    let mapping = store.create_auth_mapping(&at.account, &domain, p.kind, &list);
    Ok(json(StatusCode::CREATED, &view(p, &mapping.await?)))
}

async fn fetch(p: MappingPath, at: AccountPath) -> Answer {
    let domain: SipDomainSid = at.parent()?;
    let list = instance(p, &at)?;
    let store = &at.app.store;
    let found = store.get_auth_mapping(&at.account, &domain, p.kind, &list);
    let mapping = at.here(found.await)?.ok_or_else(|| at.not_found())?;
    Ok(json(StatusCode::OK, &view(p, &mapping)))
}

async fn list(p: MappingPath, at: AccountPath, query: Query) -> Answer {
    let domain: SipDomainSid = at.parent()?;
    let request = PageRequest::parse(&query, p.prefix())?;
    let store = &at.app.store;
    let query = request.query();
    let rows = store.list_auth_mappings(&at.account, &domain, p.kind, &query);
    let page = request.finish(at.here(rows.await)?, |m| m.list.as_str());
    let path = p.wire.list_uri(&at.account, &domain);
    let body = page.v2010_envelope(p.wire.key, &path, "", |m| to_value(&view(p, m)));
    Ok(json(StatusCode::OK, &body))
}

async fn remove(p: MappingPath, at: AccountPath) -> Result<StatusCode, ApiError> {
    let domain: SipDomainSid = at.parent()?;
    let list = instance(p, &at)?;
    let store = &at.app.store;
    let removed = store.delete_auth_mapping(&at.account, &domain, p.kind, &list);
    at.here(removed.await)?;
    Ok(StatusCode::NO_CONTENT)
}
