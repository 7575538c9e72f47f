//! Keystone authentication, as keystonemiddleware's `auth_token` does it: every request but
//! `GET /` carries a token (`X-Auth-Token`), validated against Keystone v3
//! (`GET /v3/auth/tokens` with the service's own token), cached for `token_cache_time`
//! (never past the token's expiry) and validated once for concurrent requests with the same
//! new token. A missing or invalid token is 401 with `WWW-Authenticate: Keystone uri=…`;
//! Keystone unreachable is 503 for tokens not in the cache.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use neutrino_ml2::RequestContext;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

/// `[keystone_authtoken]`, with keystonemiddleware's option names.
#[derive(Debug, Clone)]
pub struct KeystoneConfig {
    /// Sent in `WWW-Authenticate` (default: `auth_url`).
    pub www_authenticate_uri: String,
    /// Keystone, for the service's token and for validation.
    pub auth_url: String,
    /// The service user.
    pub username: String,
    /// Its password.
    pub password: String,
    /// Its project.
    pub project_name: String,
    /// Domain of the user (name).
    pub user_domain_name: String,
    /// Domain of the project (name).
    pub project_domain_name: String,
    /// Seconds a validation is cached (-1: no cache).
    pub token_cache_time: i64,
    /// Roles a service token (`X-Service-Token`) must carry one of.
    pub service_token_roles: Vec<String>,
    /// Whether a service token without those roles is refused.
    pub service_token_roles_required: bool,
    /// Timeout of one call to Keystone.
    pub http_timeout: Duration,
}

/// Why a token was not accepted.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AuthError {
    /// Missing, garbage, expired or revoked: 401.
    #[error("{0}")]
    Invalid(String),
    /// Keystone could not be asked: 503.
    #[error("{0}")]
    Unavailable(String),
}

/// Who a validated token says the caller is.
#[derive(Debug, Clone)]
pub struct TokenInfo {
    /// Project, user, domains, roles (lower-cased), system scope, `is_admin_project`.
    pub ctx: RequestContext,
    /// When the token expires.
    pub expires_at: SystemTime,
}

struct Cached {
    info: Arc<TokenInfo>,
    until: Instant,
}

type Flight = Arc<OnceCell<Result<Arc<TokenInfo>, AuthError>>>;

/// A Keystone client for token validation, with its cache.
pub struct Keystone {
    cfg: KeystoneConfig,
    http: reqwest::Client,
    service: tokio::sync::Mutex<Option<(String, SystemTime)>>,
    cache: Mutex<HashMap<[u8; 32], Cached>>,
    inflight: Mutex<HashMap<[u8; 32], Flight>>,
    validations: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for Keystone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keystone")
            .field("auth_url", &self.cfg.auth_url)
            .finish_non_exhaustive()
    }
}

fn tokens_url(auth_url: &str) -> String {
    let base = auth_url.trim_end_matches('/');
    if base.ends_with("/v3") {
        format!("{base}/auth/tokens")
    } else {
        format!("{base}/v3/auth/tokens")
    }
}

fn parse_time(s: &str) -> Option<SystemTime> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs_f64(t.unix_timestamp_nanos() as f64 / 1e9))
}

/// A start-up check that failed, naming the `[keystone_authtoken]` key to fix.
#[derive(Debug, thiserror::Error)]
#[error("keystone_authtoken.{key}: {message}")]
pub struct StartupError {
    /// The key.
    pub key: &'static str,
    /// What is wrong.
    pub message: String,
}

impl Keystone {
    /// A client for `cfg` (nothing is asked of Keystone yet).
    pub fn new(cfg: KeystoneConfig) -> Keystone {
        // `http_connect_timeout` bounds connecting; a slow Keystone gets a minute to answer.
        let http = reqwest::Client::builder()
            .connect_timeout(cfg.http_timeout)
            .timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(32)
            .build()
            .expect("HTTP client");
        Keystone {
            cfg,
            http,
            service: tokio::sync::Mutex::new(None),
            cache: Mutex::new(HashMap::new()),
            inflight: Mutex::new(HashMap::new()),
            validations: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &KeystoneConfig {
        &self.cfg
    }

    /// How many validations were sent to Keystone (tests and figures).
    pub fn validations(&self) -> u64 {
        self.validations.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Obtain the service's own token once, to find a wrong setting before serving (a
    /// Keystone that errors is asked three times, a second apart).
    pub async fn check(&self) -> Result<(), StartupError> {
        let mut outcome = self.service_token(true).await;
        for _ in 0..2 {
            match &outcome {
                Err(AuthError::Unavailable(_)) => {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    outcome = self.service_token(true).await;
                }
                _ => break,
            }
        }
        match outcome {
            Ok(_) => Ok(()),
            Err(AuthError::Unavailable(m)) => Err(StartupError {
                key: "auth_url",
                message: m,
            }),
            Err(AuthError::Invalid(m)) => Err(StartupError {
                key: "username",
                message: format!(
                    "{m} (check username, password, project_name, user_domain_name and \
                     project_domain_name)"
                ),
            }),
        }
    }

    /// The service's token, obtained again when it expires within two minutes (or a
    /// quarter of its life, whichever is shorter) or when `fresh`.
    async fn service_token(&self, fresh: bool) -> Result<String, AuthError> {
        let mut slot = self.service.lock().await;
        if let (false, Some((token, expires))) = (fresh, slot.as_ref()) {
            let left = expires
                .duration_since(SystemTime::now())
                .unwrap_or_default();
            if left > Duration::from_secs(120).min(self.service_life(*expires) / 4) {
                return Ok(token.clone());
            }
        }
        let body = json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": self.cfg.username,
                "domain": {"name": self.cfg.user_domain_name},
                "password": self.cfg.password}}},
            "scope": {"project": {"name": self.cfg.project_name,
                                  "domain": {"name": self.cfg.project_domain_name}}}}});
        let url = format!("{}?nocatalog", tokens_url(&self.cfg.auth_url));
        let r = self
            .http
            .post(&url)
            .header("Accept", "application/json")
            .json(&body)
            .send()
            .await
            .map_err(|e| AuthError::Unavailable(format!("cannot reach Keystone at {url}: {e}")))?;
        let status = r.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::NOT_FOUND {
            return Err(AuthError::Invalid(format!(
                "Keystone refused the service credentials ({status})"
            )));
        }
        if !status.is_success() {
            return Err(AuthError::Unavailable(format!(
                "Keystone answered {status} to {url}"
            )));
        }
        let token = r
            .headers()
            .get("x-subject-token")
            .and_then(|v| v.to_str().ok())
            .map(String::from)
            .ok_or_else(|| AuthError::Unavailable("Keystone sent no X-Subject-Token".into()))?;
        let doc: Value = r
            .json()
            .await
            .map_err(|e| AuthError::Unavailable(format!("Keystone's answer is not JSON: {e}")))?;
        let expires = doc["token"]["expires_at"]
            .as_str()
            .and_then(parse_time)
            .ok_or_else(|| AuthError::Unavailable("Keystone's token has no expires_at".into()))?;
        *slot = Some((token.clone(), expires));
        tracing::debug!("obtained the service token");
        Ok(token)
    }

    fn service_life(&self, expires: SystemTime) -> Duration {
        expires
            .duration_since(SystemTime::now())
            .unwrap_or_default()
            .max(Duration::from_secs(1))
            * 4
    }

    /// Validate a user token: from the cache, or from Keystone (once for concurrent callers
    /// with the same token).
    pub async fn validate(&self, token: &str) -> Result<Arc<TokenInfo>, AuthError> {
        let token = token.trim();
        if token.is_empty() {
            return Err(AuthError::Invalid("empty token".into()));
        }
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let now = Instant::now();
        {
            let mut cache = self.cache.lock().expect("cache lock");
            if let Some(c) = cache.get(&key) {
                if c.until > now && c.info.expires_at > SystemTime::now() {
                    return Ok(c.info.clone());
                }
                cache.remove(&key);
            }
        }
        let flight = {
            let mut inflight = self.inflight.lock().expect("inflight lock");
            inflight
                .entry(key)
                .or_insert_with(|| Arc::new(OnceCell::new()))
                .clone()
        };
        flight
            .get_or_init(|| async {
                let r = self.fetch(token).await;
                if let Ok(info) = &r {
                    self.remember(key, info.clone());
                }
                self.inflight.lock().expect("inflight lock").remove(&key);
                r
            })
            .await
            .clone()
    }

    fn remember(&self, key: [u8; 32], info: Arc<TokenInfo>) {
        if self.cfg.token_cache_time < 0 {
            return;
        }
        let left = info
            .expires_at
            .duration_since(SystemTime::now())
            .unwrap_or_default();
        let keep = Duration::from_secs(self.cfg.token_cache_time as u64).min(left);
        let now = Instant::now();
        let mut cache = self.cache.lock().expect("cache lock");
        if cache.len() >= 50_000 {
            cache.retain(|_, c| c.until > now);
        }
        cache.insert(
            key,
            Cached {
                info,
                until: now + keep,
            },
        );
    }

    /// Ask Keystone about a token (re-authenticating the service once if it is refused).
    async fn fetch(&self, token: &str) -> Result<Arc<TokenInfo>, AuthError> {
        self.validations
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let url = format!("{}?nocatalog", tokens_url(&self.cfg.auth_url));
        for attempt in 0..2 {
            let service = self.service_token(attempt > 0).await?;
            // As keystonemiddleware's `http_request_max_retries` (3): a request that cannot
            // be sent is tried again.
            let mut tries = 0;
            let r = loop {
                tries += 1;
                let sent = self
                    .http
                    .get(&url)
                    .header("Accept", "application/json")
                    .header("X-Auth-Token", &service)
                    .header("X-Subject-Token", token)
                    .header("OpenStack-Identity-Access-Rules", "1")
                    .send()
                    .await;
                match sent {
                    Ok(r) => break r,
                    Err(e) if tries >= 3 => {
                        return Err(AuthError::Unavailable(format!(
                            "cannot reach Keystone at {url}: {e}"
                        )));
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                }
            };
            match r.status() {
                s if s.is_success() => {
                    let doc: Value = r
                        .json()
                        .await
                        .map_err(|_| AuthError::Invalid("Invalid token contents.".into()))?;
                    return token_info(&doc).map(Arc::new);
                }
                StatusCode::NOT_FOUND => {
                    return Err(AuthError::Invalid("Token authorization failed".into()));
                }
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN if attempt == 0 => continue,
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                    return Err(AuthError::Unavailable(
                        "Identity server rejected authorization necessary to fetch token data"
                            .into(),
                    ));
                }
                s => {
                    return Err(AuthError::Unavailable(format!(
                        "Failed to fetch token data from identity server ({s})"
                    )));
                }
            }
        }
        unreachable!("the loop returns")
    }
}

/// The caller a Keystone v3 token body describes.
pub fn token_info(doc: &Value) -> Result<TokenInfo, AuthError> {
    let t = &doc["token"];
    let invalid = || AuthError::Invalid("Invalid token contents.".into());
    let expires_at = t["expires_at"]
        .as_str()
        .and_then(parse_time)
        .ok_or_else(invalid)?;
    if expires_at <= SystemTime::now() {
        return Err(AuthError::Invalid("Token authorization failed".into()));
    }
    let str_of = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let roles = t["roles"]
        .as_array()
        .map(|rs| {
            rs.iter()
                .filter_map(|r| r["name"].as_str())
                .map(|r| r.to_ascii_lowercase())
                .collect()
        })
        .unwrap_or_default();
    let ctx = RequestContext {
        project_id: str_of(&t["project"]["id"]),
        project_name: str_of(&t["project"]["name"]),
        project_domain_id: str_of(&t["project"]["domain"]["id"]),
        user_id: str_of(&t["user"]["id"]),
        user_name: str_of(&t["user"]["name"]),
        user_domain_id: str_of(&t["user"]["domain"]["id"]),
        domain_id: str_of(&t["domain"]["id"]),
        system_scope: if t["system"]["all"].as_bool() == Some(true) {
            "all".into()
        } else {
            String::new()
        },
        roles,
        // keystoneauth: True when the token does not say.
        is_admin_project: t["is_admin_project"].as_bool().unwrap_or(true),
        ..RequestContext::default()
    };
    Ok(TokenInfo { ctx, expires_at })
}

/// The answer to a request without a valid token.
pub fn unauthorized(cfg: &KeystoneConfig) -> Response {
    let body = json!({"error": {"code": 401, "title": "Unauthorized",
        "message": "The request you have made requires authentication."}});
    let mut r = (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
    let uri = if cfg.www_authenticate_uri.is_empty() {
        &cfg.auth_url
    } else {
        &cfg.www_authenticate_uri
    };
    if let Ok(v) = HeaderValue::from_str(&format!("Keystone uri=\"{uri}\"")) {
        r.headers_mut().insert("www-authenticate", v);
    }
    r
}

/// The answer when Keystone cannot be asked.
pub fn unavailable() -> Response {
    let body = json!({"error": {"code": 503, "title": "Service Unavailable",
        "message": "The Keystone service is temporarily unavailable."}});
    (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response()
}

/// The user token of a request (`X-Auth-Token`, or its alias `X-Storage-Token`).
pub fn token_of(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("x-auth-token")
        .or_else(|| headers.get("x-storage-token"))
        .and_then(|v| v.to_str().ok())
}
