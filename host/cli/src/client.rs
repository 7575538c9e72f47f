//! A small JSON client for the server's admin API that turns Neutron errors into messages.

use anyhow::{Context, bail};
use serde_json::Value;

/// The server, as one identity.
pub struct Api {
    base: String,
    http: reqwest::Client,
    project: String,
    roles: String,
}

impl Api {
    /// A client for `base`.
    pub fn new(base: &str, project: &str, roles: &str) -> anyhow::Result<Api> {
        Ok(Api {
            base: base.trim_end_matches('/').to_string(),
            http: reqwest::Client::builder()
                .build()
                .context("creating the HTTP client")?,
            project: project.to_string(),
            roles: roles.to_string(),
        })
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{}", self.base, path))
            .header("X-Project-Id", &self.project)
            .header("X-Roles", &self.roles)
    }

    async fn finish(&self, req: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        let resp = req
            .send()
            .await
            .with_context(|| format!("cannot reach {}", self.base))?;
        let status = resp.status();
        let bytes = resp.bytes().await.context("reading the response")?;
        let body: Value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        if !status.is_success() {
            let err = &body["NeutronError"];
            match (err["type"].as_str(), err["message"].as_str()) {
                (Some(t), Some(m)) => bail!("{} {t}: {m}", status.as_u16()),
                _ => bail!("{} {}", status.as_u16(), body),
            }
        }
        Ok(body)
    }

    /// GET a JSON document.
    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.finish(self.request(reqwest::Method::GET, path)).await
    }

    /// PUT a JSON body.
    pub async fn put_json(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.finish(self.request(reqwest::Method::PUT, path).json(body))
            .await
    }

    /// POST a JSON body.
    pub async fn post_json(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.finish(self.request(reqwest::Method::POST, path).json(body))
            .await
    }

    /// DELETE.
    pub async fn delete(&self, path: &str) -> anyhow::Result<Value> {
        self.finish(self.request(reqwest::Method::DELETE, path))
            .await
    }
}
