//! What the handlers of an API 2010 resource share: its five handlers (create, fetch, list,
//! update, delete), written once over [`Crud`], which a resource implements with its parameters,
//! its view and its storage calls, in one [`crud!`](crate::crud) declaration (the storage calls
//! by [`storage_calls!`](crate::storage_calls)); `http::router` merges [`router`]`::<R>()`. A
//! resource hangs directly under the account ([`Account`]: an IP access control list, a
//! credential list) or under another resource's instance (its [`Scope`] is the parent's SID: a
//! list's IP Addresses or Credentials).
//!
//! A malformed SID anywhere in the path is the path's 404 ([`AccountPath::instance`],
//! [`AccountPath::parent`], [`AccountPath::child`]); so is a parent that storage does not find
//! under the caller's account ([`AccountPath::here`]), while a missing instance is named by its
//! own path.

use std::future::Future;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use serde::Serialize;

use super::extract::{AccountPath, Form, Query, RequestApp};
use super::paging::{PageRequest, to_value};
use super::wire::{V2010Child, V2010Resource};
use super::{Answer, AppState, json};
use crate::domain::{Invalid, Params};
use crate::error::ApiError;
use crate::sid::{AccountSid, Sid};
use crate::store::{PageQuery, StoreError};

/// What storage answers: a value, or why not.
pub type Stored<T> = Result<T, StoreError>;

/// Where a resource's instances hang, as its paths say.
pub trait Scope: Sized + Send + Sync + 'static {
    /// The resource's paths.
    type Wire: Send + Sync + 'static;
    /// Reads the scope from the path.
    fn read(at: &AccountPath) -> Result<Self, ApiError>;
    /// Reads the instance's SID from the path.
    fn instance<S: Sid>(at: &AccountPath) -> Result<S, ApiError>;
    /// A write's or a list's result, with what storage did not find reported.
    fn stored<T>(at: &AccountPath, result: Stored<T>) -> Result<T, ApiError>;
    /// The route of the collection.
    fn list_route(wire: &Self::Wire) -> String;
    /// The route of an instance.
    fn instance_route(wire: &Self::Wire) -> String;
    /// The collection's URI, and the list envelope's key.
    fn list_uri(&self, wire: &Self::Wire, account: &AccountSid) -> (String, &'static str);
}

/// Directly under the account: `…/Accounts/{AccountSid}/{collection}/{Sid}.json`.
#[derive(Debug, Clone, Copy)]
pub struct Account;

impl Scope for Account {
    type Wire = V2010Resource;

    fn read(_: &AccountPath) -> Result<Self, ApiError> {
        Ok(Self)
    }

    fn instance<S: Sid>(at: &AccountPath) -> Result<S, ApiError> {
        at.instance()
    }

    fn stored<T>(_: &AccountPath, result: Stored<T>) -> Result<T, ApiError> {
        Ok(result?)
    }

    fn list_route(wire: &V2010Resource) -> String {
        wire.list_route()
    }

    fn instance_route(wire: &V2010Resource) -> String {
        wire.instance_route()
    }

    fn list_uri(&self, wire: &V2010Resource, account: &AccountSid) -> (String, &'static str) {
        (wire.list_uri(account), wire.key)
    }
}

/// Under an instance of another resource, whose SID this is:
/// `…/{parent collection}/{ParentSid}/{collection}/{Sid}.json`.
impl<P: Sid + Send + Sync + 'static> Scope for P {
    type Wire = V2010Child;

    fn read(at: &AccountPath) -> Result<Self, ApiError> {
        at.parent()
    }

    fn instance<S: Sid>(at: &AccountPath) -> Result<S, ApiError> {
        at.child()
    }

    fn stored<T>(at: &AccountPath, result: Stored<T>) -> Result<T, ApiError> {
        at.here(result)
    }

    fn list_route(wire: &V2010Child) -> String {
        wire.list_route()
    }

    fn instance_route(wire: &V2010Child) -> String {
        wire.instance_route()
    }

    fn list_uri(&self, wire: &V2010Child, account: &AccountSid) -> (String, &'static str) {
        (wire.list_uri(account, self), wire.key)
    }
}

/// An API 2010 resource with the five handlers: its paths, its parameters, its view and its
/// storage calls (which take the account, then the parent's SID unless the scope is
/// [`Account`]).
pub trait Crud: Sized + Send + Sync + 'static {
    /// Where its instances hang.
    type Scope: Scope;
    /// Its SID.
    type Sid: Sid + Send + Sync + 'static;
    /// The validated parameters of a create.
    type New: Send + 'static;
    /// The validated parameters of an update.
    type Patch: Send + 'static;
    /// What a client sees of one.
    type View<'a>: Serialize
    where
        Self: 'a;

    /// Its paths.
    const WIRE: &'static <Self::Scope as Scope>::Wire;

    /// Validates a create's form.
    fn parse_new(form: &dyn Params) -> Result<Self::New, Invalid>;
    /// Validates an update's form.
    fn parse_patch(form: &dyn Params) -> Result<Self::Patch, Invalid>;
    /// Its SID, the paging key.
    fn sid(&self) -> &str;
    /// Its view.
    fn view(&self) -> Self::View<'_>;

    /// Creates one.
    fn create(
        app: &RequestApp,
        account: &AccountSid,
        scope: &Self::Scope,
        new: Self::New,
    ) -> impl Future<Output = Stored<Self>> + Send;
    /// One instance.
    fn get(
        app: &RequestApp,
        account: &AccountSid,
        scope: &Self::Scope,
        sid: &Self::Sid,
    ) -> impl Future<Output = Stored<Option<Self>>> + Send;
    /// A page of them.
    fn list(
        app: &RequestApp,
        account: &AccountSid,
        scope: &Self::Scope,
        query: &PageQuery,
    ) -> impl Future<Output = Stored<Vec<Self>>> + Send;
    /// Updates one.
    fn update(
        app: &RequestApp,
        account: &AccountSid,
        scope: &Self::Scope,
        sid: &Self::Sid,
        patch: Self::Patch,
    ) -> impl Future<Output = Stored<Self>> + Send;
    /// Deletes one.
    fn delete(
        app: &RequestApp,
        account: &AccountSid,
        scope: &Self::Scope,
        sid: &Self::Sid,
    ) -> impl Future<Output = Stored<()>> + Send;
}

/// The routes of `R`: its collection and its instances.
pub fn router<R: Crud>() -> Router<AppState> {
    Router::new()
        .route(
            &R::Scope::list_route(R::WIRE),
            get(list::<R>).post(create::<R>),
        )
        .route(
            &R::Scope::instance_route(R::WIRE),
            get(fetch::<R>).post(update::<R>).delete(remove::<R>),
        )
}

async fn create<R: Crud>(at: AccountPath, form: Form) -> Answer {
    let scope = R::Scope::read(&at)?;
    let new = R::parse_new(&form)?;
    let created = R::create(&at.app, &at.account, &scope, new).await;
    Ok(json(
        StatusCode::CREATED,
        &R::Scope::stored(&at, created)?.view(),
    ))
}

async fn fetch<R: Crud>(at: AccountPath) -> Answer {
    let (scope, sid) = (R::Scope::read(&at)?, R::Scope::instance(&at)?);
    let found = R::get(&at.app, &at.account, &scope, &sid).await?;
    let instance = found.ok_or_else(|| at.not_found())?;
    Ok(json(StatusCode::OK, &instance.view()))
}

async fn list<R: Crud>(at: AccountPath, query: Query) -> Answer {
    let scope = R::Scope::read(&at)?;
    let request = PageRequest::parse(&query, R::Sid::PREFIX)?;
    let rows = R::list(&at.app, &at.account, &scope, &request.query()).await;
    let page = request.finish(R::Scope::stored(&at, rows)?, R::sid);
    let (path, key) = scope.list_uri(R::WIRE, &at.account);
    let body = page.v2010_envelope(key, &path, "", |r| to_value(&r.view()));
    Ok(json(StatusCode::OK, &body))
}

async fn update<R: Crud>(at: AccountPath, form: Form) -> Answer {
    let (scope, sid) = (R::Scope::read(&at)?, R::Scope::instance(&at)?);
    let patch = R::parse_patch(&form)?;
    let updated = R::update(&at.app, &at.account, &scope, &sid, patch).await;
    Ok(json(
        StatusCode::OK,
        &R::Scope::stored(&at, updated)?.view(),
    ))
}

async fn remove<R: Crud>(at: AccountPath) -> Result<StatusCode, ApiError> {
    let (scope, sid) = (R::Scope::read(&at)?, R::Scope::instance(&at)?);
    R::delete(&at.app, &at.account, &scope, &sid).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `impl Crud for $type`: in `$scope` (`Account`, or the parent's SID type), with SID `$sid`
/// at `$wire`, created from `$new` and updated from `$patch` (validated by the functions
/// given), shown by `$view` (a function to its view type `$shown`), stored by the five calls
/// named after `account:` or `parent:` (see [`storage_calls!`](crate::storage_calls)).
#[macro_export]
macro_rules! crud {
    ($type:ident in $scope:ident, $sid:ident, $wire:ident;
     $new:ident = $parse_new:expr, $patch:ident = $parse_patch:expr;
     $view:expr => $shown:ident;
     $kind:ident: $($calls:ident),+ $(,)?) => {
        impl $crate::http::v2010::Crud for $type {
            type Scope = $scope;
            type Sid = $sid;
            type New = $new;
            type Patch = $patch;
            type View<'a> = $shown<'a>;
            const WIRE: &'static <$scope as $crate::http::v2010::Scope>::Wire = &$wire;

            fn parse_new(
                form: &dyn $crate::domain::Params,
            ) -> Result<$new, $crate::domain::Invalid> {
                ($parse_new)(form)
            }

            fn parse_patch(
                form: &dyn $crate::domain::Params,
            ) -> Result<$patch, $crate::domain::Invalid> {
                ($parse_patch)(form)
            }

            fn sid(&self) -> &str {
                self.sid.as_str()
            }

            fn view(&self) -> $shown<'_> {
                ($view)(self)
            }

            $crate::storage_calls!($kind: $($calls),+);
        }
    };
}

/// The five storage calls of a [`Crud`] impl, by the names of the storage methods that make
/// them. `account:` for a resource directly under the account (each method takes the account,
/// then the SID, the parameters or the page); `parent:` for one under another's instance (each
/// takes the account and the parent's SID first).
#[macro_export]
macro_rules! storage_calls {
    (account: $create:ident, $get:ident, $list:ident, $update:ident, $delete:ident) => {
        $crate::storage_calls!(@calls [] $create, $get, $list, $update, $delete);
    };
    (parent: $create:ident, $get:ident, $list:ident, $update:ident, $delete:ident) => {
        $crate::storage_calls!(@calls [parent,] $create, $get, $list, $update, $delete);
    };
    (@calls [$($p:ident,)?] $create:ident, $get:ident, $list:ident, $update:ident, $delete:ident) => {
        async fn create(
            app: &$crate::http::extract::RequestApp,
            account: &$crate::sid::AccountSid,
            _scope: &Self::Scope,
            new: Self::New,
        ) -> $crate::http::v2010::Stored<Self> {
            $(let $p = _scope;)?
            app.store.$create(account, $($p,)? new).await
        }

        async fn get(
            app: &$crate::http::extract::RequestApp,
            account: &$crate::sid::AccountSid,
            _scope: &Self::Scope,
            sid: &Self::Sid,
        ) -> $crate::http::v2010::Stored<Option<Self>> {
            $(let $p = _scope;)?
            app.store.$get(account, $($p,)? sid).await
        }

        async fn list(
            app: &$crate::http::extract::RequestApp,
            account: &$crate::sid::AccountSid,
            _scope: &Self::Scope,
            query: &$crate::store::PageQuery,
        ) -> $crate::http::v2010::Stored<Vec<Self>> {
            $(let $p = _scope;)?
            app.store.$list(account, $($p,)? query).await
        }

        async fn update(
            app: &$crate::http::extract::RequestApp,
            account: &$crate::sid::AccountSid,
            _scope: &Self::Scope,
            sid: &Self::Sid,
            patch: Self::Patch,
        ) -> $crate::http::v2010::Stored<Self> {
            $(let $p = _scope;)?
            app.store.$update(account, $($p,)? sid, patch).await
        }

        async fn delete(
            app: &$crate::http::extract::RequestApp,
            account: &$crate::sid::AccountSid,
            _scope: &Self::Scope,
            sid: &Self::Sid,
        ) -> $crate::http::v2010::Stored<()> {
            $(let $p = _scope;)?
            app.store.$delete(account, $($p,)? sid).await
        }
    };
}
