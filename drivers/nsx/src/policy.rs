//! The NSX Manager's Policy API as vmware-nsxlib's cluster client uses it: a session per
//! manager (`POST /api/session/create` with the form `j_username`/`j_password`; the
//! `JSESSIONID` cookie and the `X-XSRF-TOKEN` header sent on every later request), kept in
//! the session cache (one login for concurrent first calls), one re-login when the manager
//! answers 401 or 403, and the managers of `nsx_api_managers` tried in order when one does
//! not answer.
//!
//! Errors: a refused or timed-out connection and a 5xx are [`ErrorKind::Unavailable`] (a
//! journal retries them); any other 4xx is permanent; a `DELETE` of something already gone
//! (404) succeeds.

use crate::settings::Settings;
use neutrino_driver::http::{Client, HttpError, Method, Response};
use neutrino_driver::{DriverError, ErrorKind, session};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::Duration;

/// How long concurrent calls wait for another call's login.
const LOGIN_WAIT: Duration = Duration::from_secs(10);
/// How long a session is kept (NSX's default idle timeout is 1800 s).
const SESSION_TTL: Duration = Duration::from_secs(1500);
/// Per-request timeout.
const TIMEOUT_MS: u32 = 10_000;
/// The Policy API's prefix (nsxlib's `NSX_POLICY_V1_API_PREFIX`).
pub const POLICY: &str = "policy/api/v1";

#[derive(Serialize, Deserialize)]
struct Session {
    cookie: String,
    xsrf: Option<String>,
}

/// The NSX Manager cluster.
pub struct Nsx<'a> {
    settings: &'a Settings,
    http: Client,
}

impl<'a> Nsx<'a> {
    /// The cluster of `settings.nsx_api_managers`.
    pub fn new(settings: &'a Settings) -> Self {
        Nsx {
            settings,
            http: Client::new().timeout_ms(TIMEOUT_MS),
        }
    }

    /// `PATCH <policy>/<path>` with `body` (create or update).
    pub fn patch(&self, path: &str, body: &Value) -> Result<Response, DriverError> {
        self.call(Method::Patch, path, Some(body))
    }

    /// `GET <policy>/<path>`.
    pub fn get(&self, path: &str) -> Result<Response, DriverError> {
        self.call(Method::Get, path, None)
    }

    /// `DELETE <policy>/<path>`; already gone is fine.
    pub fn delete(&self, path: &str) -> Result<(), DriverError> {
        match self.call(Method::Delete, path, None) {
            Err(e) if e.message.contains(" answered 404") => Ok(()),
            other => other.map(drop),
        }
    }

    /// One call on the first manager that answers.
    fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Response, DriverError> {
        let managers = self.settings.managers();
        if managers.is_empty() {
            return Err(DriverError::invalid_input(
                "config `nsx_api_managers` names no NSX Manager",
            ));
        }
        let mut last = None;
        for manager in &managers {
            match self.call_on(manager, method, path, body) {
                Err(e) if e.kind == ErrorKind::Unavailable => {
                    neutrino_driver::warn!("NSX Manager {manager}: {}", e.message);
                    last = Some(e);
                }
                other => return other,
            }
        }
        Err(last.expect("at least one manager"))
    }

    fn call_on(
        &self,
        manager: &str,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Response, DriverError> {
        let url = format!("{manager}/{POLICY}/{path}");
        let what = format!("{} /{POLICY}/{path}", method_name(method));
        let payload = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let key = format!("session/{manager}");
        let mut relogged = false;
        loop {
            let (raw, session) = self.session(manager, &key)?;
            let mut headers = vec![("cookie".to_string(), session.cookie.clone())];
            if let Some(x) = &session.xsrf {
                headers.push(("x-xsrf-token".into(), x.clone()));
            }
            if body.is_some() {
                headers.push(("content-type".into(), "application/json".into()));
            }
            headers.push(("accept".into(), "application/json".into()));
            let r = self
                .http
                .send(method, &url, headers, payload.clone())
                .map_err(|e| transport(manager, &what, e))?;
            if matches!(r.status, 401 | 403) && !relogged {
                neutrino_driver::info!(
                    "NSX Manager {manager}: session refused ({}), logging in again",
                    r.status
                );
                // Only if nobody replaced it meanwhile: concurrent calls refused with the
                // same session log in once.
                if session::get(&key).as_deref() == Some(raw.as_slice()) {
                    session::delete(&key);
                }
                relogged = true;
                continue;
            }
            if !(200..300).contains(&r.status) {
                return Err(status_error(manager, &what, &r));
            }
            return Ok(r);
        }
    }

    fn session(&self, manager: &str, key: &str) -> Result<(Vec<u8>, Session), DriverError> {
        let bytes = session::get_or_fill(key, LOGIN_WAIT, SESSION_TTL, || self.login(manager))?;
        let session = serde_json::from_slice(&bytes)
            .map_err(|e| DriverError::internal(format!("session cache entry: {e}")))?;
        Ok((bytes, session))
    }

    /// `POST /api/session/create` (form-encoded credentials).
    fn login(&self, manager: &str) -> Result<Vec<u8>, DriverError> {
        let form = format!(
            "j_username={}&j_password={}",
            form_encode(&self.settings.nsx_api_user),
            form_encode(&self.settings.nsx_api_password)
        );
        let url = format!("{manager}/api/session/create");
        let r = self
            .http
            .send(
                Method::Post,
                &url,
                vec![(
                    "content-type".into(),
                    "application/x-www-form-urlencoded".into(),
                )],
                form.into_bytes(),
            )
            .map_err(|e| transport(manager, "login", e))?;
        if !(200..300).contains(&r.status) {
            return Err(status_error(manager, "POST /api/session/create", &r));
        }
        let cookie = r
            .headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
            .filter_map(|(_, v)| v.split(';').next())
            .find(|pair| pair.trim().starts_with("JSESSIONID="))
            .map(|pair| pair.trim().to_string())
            .ok_or_else(|| {
                DriverError::internal(format!(
                    "NSX Manager {manager}: the login answered no JSESSIONID cookie"
                ))
            })?;
        neutrino_driver::info!("logged in to NSX Manager {manager}");
        let session = Session {
            cookie,
            xsrf: r.header("x-xsrf-token").map(str::to_string),
        };
        Ok(serde_json::to_vec(&session).expect("a session encodes"))
    }
}

/// `application/x-www-form-urlencoded` encoding of a value.
fn form_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn method_name(m: Method) -> &'static str {
    match m {
        Method::Get => "GET",
        Method::Post => "POST",
        Method::Put => "PUT",
        Method::Patch => "PATCH",
        Method::Delete => "DELETE",
        _ => "HTTP",
    }
}

fn transport(manager: &str, what: &str, e: HttpError) -> DriverError {
    let mut err = DriverError::from(e);
    err.message = format!("NSX Manager {manager}: {what}: {}", err.message);
    err
}

fn status_error(manager: &str, what: &str, r: &Response) -> DriverError {
    let kind = if r.status >= 500 {
        ErrorKind::Unavailable
    } else {
        ErrorKind::Internal
    };
    let text: String = r.text().chars().take(300).collect();
    DriverError::new(
        kind,
        format!(
            "NSX Manager {manager}: {what} answered {}: {text}",
            r.status
        ),
    )
}
