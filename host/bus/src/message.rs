//! Messages and where they go, and their wire form: oslo.messaging's RPC message
//! (`method`, `args`, `version`, `_unique_id`, `_context_*`, and for calls `_msg_id`,
//! `_reply_q`) inside the `{"oslo.version": "2.0", "oslo.message": "…"}` envelope.

use serde_json::{Map, Value};

use crate::error::{Error, RemoteError, Result};

/// The envelope version oslo.messaging writes.
pub const OSLO_VERSION: &str = "2.0";

/// Where a message goes: a topic, optionally one server of it, or all of its listeners.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Topic, e.g. `q-plugin`.
    pub topic: String,
    /// Host name of one listener (`topic.server` queue), if directed.
    pub server: Option<String>,
    /// To every listener of the topic (`topic_fanout` exchange).
    pub fanout: bool,
}

impl Target {
    /// Any one listener of the topic.
    pub fn topic(topic: &str) -> Target {
        Target {
            topic: topic.to_string(),
            server: None,
            fanout: false,
        }
    }

    /// The listener of the topic on `server`.
    pub fn server(topic: &str, server: &str) -> Target {
        Target {
            topic: topic.to_string(),
            server: Some(server.to_string()),
            fanout: false,
        }
    }

    /// Every listener of the topic.
    pub fn fanout(topic: &str) -> Target {
        Target {
            topic: topic.to_string(),
            server: None,
            fanout: true,
        }
    }

    /// The queue (and routing key) of a non-fanout target: `topic` or `topic.server`.
    pub fn queue(&self) -> String {
        match &self.server {
            Some(s) => format!("{}.{}", self.topic, s),
            None => self.topic.clone(),
        }
    }
}

/// The request context that travels with a message (oslo's `_context_*` keys).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Context(pub Map<String, Value>);

impl Context {
    /// An admin context with a fresh request id, as Neutron's agents use.
    pub fn admin() -> Context {
        let mut m = Map::new();
        m.insert("is_admin".into(), Value::Bool(true));
        m.insert("user_id".into(), Value::Null);
        m.insert("project_id".into(), Value::Null);
        m.insert(
            "request_id".into(),
            Value::String(format!("req-{}", uuid::Uuid::new_v4())),
        );
        Context(m)
    }

    /// The request id, if any.
    pub fn request_id(&self) -> Option<&str> {
        self.0.get("request_id").and_then(Value::as_str)
    }

    /// Whether the context is an admin's.
    pub fn is_admin(&self) -> bool {
        self.0
            .get("is_admin")
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }
}

/// One RPC message.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// Method name, e.g. `report_state`.
    pub method: String,
    /// Keyword arguments (a JSON object).
    pub args: Map<String, Value>,
    /// Version the caller speaks, e.g. `1.9`.
    pub version: String,
    /// Request context.
    pub context: Context,
    /// Unique id of this message (receivers may de-duplicate on it).
    pub unique_id: String,
}

impl Message {
    /// A message with a fresh unique id.
    pub fn new(method: &str, version: &str, args: Map<String, Value>, context: Context) -> Self {
        Message {
            method: method.to_string(),
            args,
            version: version.to_string(),
            context,
            unique_id: uuid::Uuid::new_v4().simple().to_string(),
        }
    }

    /// The oslo RPC dict, with `_msg_id`/`_reply_q` for a call.
    pub fn to_oslo(&self, reply: Option<(&str, &str)>) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("method".into(), Value::String(self.method.clone()));
        m.insert("args".into(), Value::Object(self.args.clone()));
        m.insert("version".into(), Value::String(self.version.clone()));
        m.insert("_unique_id".into(), Value::String(self.unique_id.clone()));
        for (k, v) in &self.context.0 {
            m.insert(format!("_context_{k}"), v.clone());
        }
        if let Some((msg_id, reply_q)) = reply {
            m.insert("_msg_id".into(), Value::String(msg_id.to_string()));
            m.insert("_reply_q".into(), Value::String(reply_q.to_string()));
            m.insert("_timeout".into(), Value::Null);
        }
        m
    }

    /// Read an oslo RPC dict; returns the message and, for a call, `(msg_id, reply_q)`.
    pub fn from_oslo(mut m: Map<String, Value>) -> Result<(Message, Option<(String, String)>)> {
        let method = match m.remove("method") {
            Some(Value::String(s)) => s,
            _ => return Err(Error::BadMessage("no method".into())),
        };
        let args = match m.remove("args") {
            Some(Value::Object(a)) => a,
            None | Some(Value::Null) => Map::new(),
            Some(_) => return Err(Error::BadMessage("args is not an object".into())),
        };
        let version = match m.remove("version") {
            Some(Value::String(s)) => s,
            _ => "1.0".to_string(),
        };
        let unique_id = match m.remove("_unique_id") {
            Some(Value::String(s)) => s,
            _ => String::new(),
        };
        let msg_id = m.remove("_msg_id");
        let reply_q = m.remove("_reply_q");
        let mut context = Map::new();
        for (k, v) in m {
            if let Some(key) = k.strip_prefix("_context_") {
                context.insert(key.to_string(), v);
            }
        }
        let reply = match (msg_id, reply_q) {
            (Some(Value::String(id)), Some(Value::String(q))) => Some((id, q)),
            _ => None,
        };
        Ok((
            Message {
                method,
                args,
                version,
                context: Context(context),
                unique_id,
            },
            reply,
        ))
    }
}

/// Wrap an oslo dict in the 2.0 envelope and encode it.
pub fn envelope(m: &Map<String, Value>) -> Vec<u8> {
    let inner = Value::Object(m.clone()).to_string();
    serde_json::json!({"oslo.version": OSLO_VERSION, "oslo.message": inner})
        .to_string()
        .into_bytes()
}

/// Decode a body: an enveloped message, or a bare dict (oslo accepts both).
pub fn unenvelope(body: &[u8]) -> Result<Map<String, Value>> {
    let outer: Value = serde_json::from_slice(body)?;
    let Value::Object(mut outer) = outer else {
        return Err(Error::BadMessage("body is not a JSON object".into()));
    };
    match outer.remove("oslo.message") {
        Some(Value::String(inner)) => match serde_json::from_str(&inner)? {
            Value::Object(m) => Ok(m),
            _ => Err(Error::BadMessage("oslo.message is not an object".into())),
        },
        Some(_) => Err(Error::BadMessage("oslo.message is not a string".into())),
        None => Ok(outer),
    }
}

/// A reply as oslo sends it: `{"result", "failure", "ending", "_msg_id", "_unique_id"}`.
pub fn reply_dict(msg_id: &str, outcome: &Result<Value, RemoteError>) -> Map<String, Value> {
    let mut m = Map::new();
    match outcome {
        Ok(v) => {
            m.insert("result".into(), v.clone());
            m.insert("failure".into(), Value::Null);
        }
        Err(e) => {
            m.insert("result".into(), Value::Null);
            let failure = serde_json::to_string(e).unwrap_or_default();
            m.insert("failure".into(), Value::String(failure));
        }
    }
    m.insert("ending".into(), Value::Bool(true));
    m.insert("_msg_id".into(), Value::String(msg_id.to_string()));
    m.insert(
        "_unique_id".into(),
        Value::String(uuid::Uuid::new_v4().simple().to_string()),
    );
    m
}

/// Read a reply dict: its `_msg_id` and outcome.
pub fn read_reply(mut m: Map<String, Value>) -> Result<(String, Result<Value, RemoteError>)> {
    let msg_id = match m.remove("_msg_id") {
        Some(Value::String(s)) => s,
        _ => return Err(Error::BadMessage("reply without _msg_id".into())),
    };
    let outcome = match m.remove("failure") {
        Some(Value::String(f)) => Err(serde_json::from_str::<RemoteError>(&f)
            .unwrap_or_else(|_| RemoteError::new("RemoteError", "unknown", f.clone()))),
        _ => Ok(m.remove("result").unwrap_or(Value::Null)),
    };
    Ok((msg_id, outcome))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_survives_the_oslo_envelope_with_its_context_and_reply_address() {
        let mut args = Map::new();
        args.insert("host".into(), Value::String("compute-1".into()));
        let msg = Message::new("report_state", "1.4", args, Context::admin());
        let body = envelope(&msg.to_oslo(Some(("abc", "reply_x"))));
        let outer: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(outer["oslo.version"], "2.0");
        assert!(outer["oslo.message"].is_string());
        let (back, reply) = Message::from_oslo(unenvelope(&body).unwrap()).unwrap();
        assert_eq!(back, msg);
        assert_eq!(reply, Some(("abc".to_string(), "reply_x".to_string())));
    }

    #[test]
    fn a_bare_dict_is_read_like_an_enveloped_one() {
        let body = br#"{"method": "port_delete", "args": {"port_id": "p"}, "version": "1.0"}"#;
        let (msg, reply) = Message::from_oslo(unenvelope(body).unwrap()).unwrap();
        assert_eq!(msg.method, "port_delete");
        assert_eq!(msg.args["port_id"], "p");
        assert!(reply.is_none());
    }

    #[test]
    fn a_failure_reply_carries_the_remote_class_and_message() {
        let r = reply_dict("m1", &Err(RemoteError::no_such_method("frobnicate")));
        let (id, outcome) = read_reply(r).unwrap();
        assert_eq!(id, "m1");
        let e = outcome.unwrap_err();
        assert_eq!(e.class, "NoSuchMethod");
        assert!(e.message.contains("frobnicate"));
    }
}
