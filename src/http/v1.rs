//! What every Voice v1 resource's handlers share: reading an instance path, answering 404 in
//! the resource's own words, reading SID parameters, and rendering a list page.

use axum::http::StatusCode;
use axum::response::Response;

use super::extract::Query;
use super::json;
use super::paging::{PageRequest, RowJson};
use super::wire::V1Resource;
use crate::domain::{Params, Reason, required};
use crate::error::ApiError;
use crate::sid::Sid;
use crate::store::PageQuery;

/// The SID of an instance path; one that cannot exist answers the resource's 404.
pub fn path_sid<S: Sid>(wire: V1Resource, raw: &str) -> Result<S, ApiError> {
    S::parse(raw).ok_or_else(|| ApiError::NotFound(wire.missing(&raw)))
}

/// The instance storage found, or the resource's 404.
pub fn found<T>(wire: V1Resource, sid: &impl Sid, row: Option<T>) -> Result<T, ApiError> {
    row.ok_or_else(|| ApiError::NotFound(wire.missing(&sid.as_str())))
}

/// A required form parameter that must be a SID of kind `S`.
pub fn sid_param<S: Sid>(form: &dyn Params, name: &'static str) -> Result<S, ApiError> {
    let raw = required(form, name)?;
    S::parse(raw).ok_or_else(|| {
        let reason = Reason::NotSid {
            value: raw.to_owned(),
            prefix: S::PREFIX,
            explained: true,
        };
        ApiError::invalid(name, reason)
    })
}

/// A list request: its paging parameters, and the storage query they make.
pub fn page_request<S: Sid>(query: &Query) -> Result<(PageRequest, PageQuery), ApiError> {
    let request = PageRequest::parse(query, S::PREFIX)?;
    let page = request.query();
    Ok((request, page))
}

/// A list page in the Voice v1 envelope: `sid_of` gives each row's SID (the paging key), and
/// `view` renders it (with [`super::paging::to_value`]).
pub fn list<T>(
    wire: V1Resource,
    public_url: &str,
    request: &PageRequest,
    rows: Vec<T>,
    sid_of: impl Fn(&T) -> &str,
    view: impl Fn(&T) -> RowJson,
) -> Response {
    let page = request.finish(rows, sid_of);
    let body = page.v1_envelope(wire.key, &wire.list_url(public_url), view);
    json(StatusCode::OK, &body)
}
