//! API 2010 SIP Credentials, a credential list's (`…/CredentialLists/{Sid}/Credentials.json`,
//! `…/{Sid}.json`; the lists themselves are in `sip_lists`). No view shows a password.

use serde::Serialize;

use super::wire::SIP_CREDENTIALS as CREDENTIALS;
use crate::domain::{Credential, CredentialPatch, NewCredential};
use crate::sid::{CredentialListSid, CredentialSid};
use crate::timefmt::V2010Date;

/// What a client sees of a credential (never its password).
#[derive(Serialize)]
pub struct CredentialView<'a> {
    sid: &'a str,
    account_sid: &'a str,
    credential_list_sid: &'a str,
    username: &'a str,
    date_created: V2010Date,
    date_updated: V2010Date,
    uri: String,
}

fn credential_view(c: &Credential) -> CredentialView<'_> {
    CredentialView {
        sid: c.sid.as_str(),
        account_sid: c.account_sid.as_str(),
        credential_list_sid: c.list_sid.as_str(),
        username: &c.username,
        date_created: V2010Date(c.date_created),
        date_updated: V2010Date(c.date_updated),
        uri: CREDENTIALS.uri(&c.account_sid, &c.list_sid, &c.sid),
    }
}

crate::crud!(Credential in CredentialListSid, CredentialSid, CREDENTIALS;
    NewCredential = NewCredential::parse, CredentialPatch = CredentialPatch::parse;
    credential_view => CredentialView;
    parent: create_credential, get_credential, list_credentials, update_credential, delete_credential);
