//! Attribute maps, as Neutron declares them: for each attribute of a resource, its type,
//! whether it may be set on create or update, its default (a create that sends the default
//! does not "set" it for policy), and whether it can be filtered and sorted on. Request bodies and query strings are checked against them,
//! with Neutron's messages.

use std::net::IpAddr;

use ipnet::IpNet;
use neutrino_ml2::RequestContext;
use neutrino_ml2::store::query::{Condition, SqlValue};
use serde_json::{Map, Value};

use crate::error::{ApiError, ApiResult, bad_request};

/// The type of an attribute's value.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// A string of at most this many characters.
    Str(usize),
    /// A boolean (also accepts "true"/"false" strings, as Neutron's converter does).
    Bool,
    /// An integer within bounds.
    Int(i64, i64),
    /// A UUID.
    Uuid,
    /// An IP address.
    Ip,
    /// A CIDR; host bits are cleared (`10.0.0.7/24` is `10.0.0.0/24`), as Neutron does.
    Cidr,
    /// A MAC address.
    Mac,
    /// One of a fixed set of strings.
    OneOf(&'static [&'static str]),
    /// One of a fixed set of integers.
    IntIn(&'static [i64]),
    /// A list of strings.
    StrList,
    /// A JSON object.
    Dict,
    /// A list whose items the resource checks itself.
    List,
    /// A TCP/UDP port, 0-65535, as a number or a numeric string (Neutron's
    /// `convert_validate_port_value`: `SecurityGroupInvalidPortValue` otherwise).
    Port,
    /// A string of at most this many characters, or a JSON integer answered as its string
    /// (a security group rule's `protocol`: `17` is `"17"`).
    StrOrInt(usize),
    /// An IP prefix kept as sent (`10.0.0.34/24`); a bare address gets its full mask
    /// (Neutron's `convert_ip_prefix_to_cidr`: `InvalidCIDR` otherwise).
    IpPrefix,
    /// A value the resource checks with its own validator (Neutron's dictionary
    /// validators, e.g. a router's `external_gateway_info`), before policy as Neutron does.
    Checked(fn(&Value) -> ApiResult<()>),
}

/// How an attribute is filtered in list queries.
#[derive(Clone, Copy)]
pub enum Filter {
    /// Not filterable.
    No,
    /// Equality on a column.
    Column(&'static str),
    /// A resource-specific condition built from the (OR-ed) values.
    Custom(fn(&[String]) -> ApiResult<Condition>),
    /// A condition that depends on the caller too (a subnet's `shared` is its network's,
    /// shared with every project or with the caller's).
    Caller(fn(&[String], &RequestContext) -> ApiResult<Condition>),
}

/// One attribute of a resource.
#[derive(Clone)]
pub struct Attr {
    /// API name.
    pub name: &'static str,
    /// Value type.
    pub kind: Kind,
    /// `null` accepted.
    pub nullable: bool,
    /// Settable on create.
    pub post: bool,
    /// Settable on update.
    pub put: bool,
    /// Must be given on create.
    pub required: bool,
    /// Neutron's default: a create that sends exactly this does not set the attribute, so
    /// its `create_<resource>:<attr>` policy rule is not checked.
    pub default: Option<Value>,
    /// Filtering.
    pub filter: Filter,
    /// Column to sort on, if sortable.
    pub sort: Option<&'static str>,
    /// Whether its `<action>_<resource>:<attr>` rule is checked when a request sets it
    /// (Neutron's `enforce_policy`; a few attributes have a registered rule Neutron never
    /// checks).
    pub enforce_policy: bool,
}

/// Start describing an attribute (read-only until told otherwise).
pub fn attr(name: &'static str, kind: Kind) -> Attr {
    Attr {
        name,
        kind,
        nullable: false,
        post: false,
        put: false,
        required: false,
        default: None,
        filter: Filter::No,
        sort: None,
        enforce_policy: true,
    }
}

impl Attr {
    /// Settable on create.
    pub fn post(mut self) -> Self {
        self.post = true;
        self
    }
    /// Settable on create and update.
    pub fn rw(mut self) -> Self {
        self.post = true;
        self.put = true;
        self
    }
    /// Required on create.
    pub fn required(mut self) -> Self {
        self.post = true;
        self.required = true;
        self
    }
    /// Its attribute rules are registered but not checked (no `enforce_policy` in Neutron's
    /// attribute map).
    pub fn unpoliced(mut self) -> Self {
        self.enforce_policy = false;
        self
    }
    /// Accepts `null`.
    pub fn nullable(mut self) -> Self {
        self.nullable = true;
        self
    }
    /// Neutron's default value.
    pub fn default(mut self, default: Value) -> Self {
        self.default = Some(default);
        self
    }
    /// Filterable on `column`.
    pub fn filter(mut self, column: &'static str) -> Self {
        self.filter = Filter::Column(column);
        self
    }
    /// Filterable with a custom condition.
    pub fn filter_with(mut self, f: fn(&[String]) -> ApiResult<Condition>) -> Self {
        self.filter = Filter::Custom(f);
        self
    }
    /// Filterable with a condition that depends on the caller.
    pub fn filter_for_caller(
        mut self,
        f: fn(&[String], &RequestContext) -> ApiResult<Condition>,
    ) -> Self {
        self.filter = Filter::Caller(f);
        self
    }
    /// Sortable on `column`.
    pub fn sort(mut self, column: &'static str) -> Self {
        self.sort = Some(column);
        self
    }
    /// Filterable and sortable on `column`.
    pub fn column(self, column: &'static str) -> Self {
        self.filter(column).sort(column)
    }
}

/// The standard attributes every resource with a project carries.
pub fn standard(attrs: &mut Vec<Attr>) {
    attrs.push(attr("id", Kind::Uuid).column("id"));
    attrs.push(
        attr("project_id", Kind::Str(255))
            .post()
            .column("project_id"),
    );
    attrs.push(
        attr("tenant_id", Kind::Str(255))
            .post()
            .column("project_id"),
    );
    attrs.push(
        attr("description", Kind::Str(255))
            .rw()
            .column("description"),
    );
    attrs.push(attr("created_at", Kind::Str(64)).column("created_at"));
    attrs.push(attr("updated_at", Kind::Str(64)).column("updated_at"));
    attrs.push(attr("revision_number", Kind::Int(0, i64::MAX)).column("revision_number"));
    attrs.push(attr("tags", Kind::StrList));
}

/// Whether a request creates or updates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// POST.
    Create,
    /// PUT.
    Update,
}

fn reason(name: &str, why: String) -> ApiError {
    crate::error::invalid_input(format!("Invalid input for {name}. Reason: {why}."))
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Neutron's `convert_to_boolean`.
pub fn to_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            _ => None,
        },
        Value::Number(n) => match n.as_i64() {
            Some(1) => Some(true),
            Some(0) => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// Check one value against a kind and return it normalised.
pub fn check_value(name: &str, kind: Kind, v: &Value) -> ApiResult<Value> {
    let s = || show(v);
    match kind {
        Kind::Str(max) => match v {
            Value::String(x) if x.chars().count() <= max => Ok(v.clone()),
            Value::String(x) => Err(reason(
                name,
                format!("'{x}' exceeds maximum length of {max}"),
            )),
            _ => Err(reason(name, format!("'{}' is not a valid string", s()))),
        },
        Kind::Bool => to_bool(v)
            .map(Value::Bool)
            .ok_or_else(|| reason(name, format!("'{}' cannot be converted to boolean", s()))),
        Kind::Int(min, max) => {
            let n = match v {
                Value::Number(n) => n.as_i64(),
                Value::String(x) => x.trim().parse::<i64>().ok(),
                _ => None,
            }
            .ok_or_else(|| reason(name, format!("'{}' is not an integer", s())))?;
            if n < min {
                return Err(reason(
                    name,
                    format!("'{n}' is too small - must be at least '{min}'"),
                ));
            }
            if n > max {
                return Err(reason(
                    name,
                    format!("'{n}' is too large - must be no larger than '{max}'"),
                ));
            }
            Ok(Value::from(n))
        }
        Kind::Uuid => match v {
            Value::String(x) if uuid::Uuid::parse_str(x).is_ok() => Ok(v.clone()),
            _ => Err(reason(name, format!("'{}' is not a valid UUID", s()))),
        },
        Kind::Ip => match v {
            Value::String(x) => x
                .parse::<IpAddr>()
                .map(|ip| Value::String(ip.to_string()))
                .map_err(|_| reason(name, format!("'{x}' is not a valid IP address"))),
            _ => Err(reason(name, format!("'{}' is not a valid IP address", s()))),
        },
        Kind::Cidr => match v {
            Value::String(x) => {
                let net: IpNet = x.parse().map_err(|_| match x.parse::<IpAddr>() {
                    Ok(ip) => reason(
                        name,
                        format!(
                            "'{x}' isn't a recommended CIDR, it should be '{ip}/{}'",
                            if ip.is_ipv4() { 32 } else { 128 }
                        ),
                    ),
                    Err(_) => reason(name, format!("'{x}' is not a valid IP subnet")),
                })?;
                // ipnet reads `010.0.0.0/8` as 10.0.0.0/8; Neutron (and the standard
                // library, which `Kind::Ip` uses) refuses leading zeros.
                let address = x.split_once('/').map_or(x.as_str(), |(a, _)| a);
                if address.parse::<IpAddr>().is_err() {
                    return Err(reason(name, format!("'{x}' is not a valid IP subnet")));
                }
                Ok(Value::String(net.trunc().to_string()))
            }
            _ => Err(reason(name, format!("'{}' is not a valid IP subnet", s()))),
        },
        Kind::Mac => match v {
            Value::String(x) if neutrino_ml2::ipam::mac::parse_unicast(x).is_some() => {
                Ok(v.clone())
            }
            _ => Err(reason(
                name,
                format!("'{}' is not a valid MAC address", s()),
            )),
        },
        Kind::OneOf(values) => match v {
            Value::String(x) if values.contains(&x.as_str()) => Ok(v.clone()),
            _ => Err(reason(name, format!("'{}' is not in {values:?}", s()))),
        },
        Kind::IntIn(values) => {
            let n = match v {
                Value::Number(n) => n.as_i64(),
                Value::String(x) => x.trim().parse::<i64>().ok(),
                _ => None,
            };
            match n {
                Some(n) if values.contains(&n) => Ok(Value::from(n)),
                _ => Err(reason(name, format!("'{}' is not in {values:?}", s()))),
            }
        }
        Kind::StrList => match v {
            Value::Array(items) if items.iter().all(|i| i.is_string()) => Ok(v.clone()),
            _ => Err(reason(name, format!("'{}' is not a list of strings", s()))),
        },
        Kind::Dict => match v {
            Value::Object(_) => Ok(v.clone()),
            _ => Err(reason(name, format!("'{}' is not a dictionary", s()))),
        },
        Kind::List => match v {
            Value::Array(_) => Ok(v.clone()),
            _ => Err(reason(name, format!("'{}' is not a list", s()))),
        },
        Kind::Port => {
            let n = match v {
                Value::Number(n) => n.as_i64(),
                Value::String(x) => x.trim().parse::<i64>().ok(),
                _ => None,
            };
            match n {
                Some(n) if (0..=65535).contains(&n) => Ok(Value::from(n)),
                _ => Err(ApiError(neutrino_ml2::security_groups::invalid_port(s()))),
            }
        }
        Kind::StrOrInt(max) => match v {
            Value::Number(n) if n.is_i64() || n.is_u64() => Ok(Value::String(n.to_string())),
            _ => check_value(name, Kind::Str(max), v),
        },
        Kind::Checked(check) => check(v).map(|()| v.clone()),
        Kind::IpPrefix => {
            let text = v.as_str().unwrap_or_default();
            let parsed = text
                .parse::<IpNet>()
                .ok()
                .or_else(|| text.parse::<IpAddr>().ok().map(IpNet::from));
            match parsed {
                Some(net) => Ok(Value::String(net.to_string())),
                None => Err(ApiError(neutrino_ml2::Error::neutron(
                    "InvalidCIDR",
                    400,
                    format!("Invalid CIDR {} given as IP prefix.", s()),
                ))),
            }
        }
    }
}

/// Check a request body object against the attribute map: unknown, read-only, missing and
/// ill-typed attributes are refused (who may set what is the policy's business).
pub fn check_body(
    attrs: &[Attr],
    body: &Map<String, Value>,
    op: Op,
) -> ApiResult<Map<String, Value>> {
    let unknown: Vec<&str> = body
        .keys()
        .filter(|k| !attrs.iter().any(|a| a.name == k.as_str()))
        .map(|k| k.as_str())
        .collect();
    if !unknown.is_empty() {
        return Err(bad_request(format!(
            "Unrecognized attribute(s) '{}'",
            unknown.join(", ")
        )));
    }
    let mut out = Map::new();
    for a in attrs {
        let Some(v) = body.get(a.name) else {
            if op == Op::Create && a.required {
                return Err(bad_request(format!(
                    "Failed to parse request. Required attribute '{}' not specified",
                    a.name
                )));
            }
            continue;
        };
        match op {
            Op::Create if !a.post => {
                return Err(bad_request(format!(
                    "Attribute '{}' not allowed in POST",
                    a.name
                )));
            }
            Op::Update if !a.put => {
                return Err(bad_request(format!(
                    "Cannot update read-only attribute {}",
                    a.name
                )));
            }
            _ => {}
        }
        let value = if v.is_null() {
            if !a.nullable {
                return Err(check_value(a.name, a.kind, v)
                    .err()
                    .unwrap_or_else(|| reason(a.name, "'None' is not allowed".into())));
            }
            Value::Null
        } else {
            check_value(a.name, a.kind, v)?
        };
        out.insert(a.name.to_string(), value);
    }
    Ok(out)
}

/// Convert filter values of one attribute into a condition.
pub fn filter_condition(
    a: &Attr,
    values: &[String],
    ctx: &RequestContext,
) -> ApiResult<Option<Condition>> {
    match a.filter {
        Filter::No => Ok(None),
        Filter::Custom(f) => f(values).map(Some),
        Filter::Caller(f) => f(values, ctx).map(Some),
        Filter::Column(col) => {
            let mut out = Vec::with_capacity(values.len());
            for v in values {
                out.push(match a.kind {
                    Kind::Bool => {
                        SqlValue::Int(i64::from(to_bool(&Value::String(v.clone())).ok_or_else(
                            || reason(a.name, format!("'{v}' cannot be converted to boolean")),
                        )?))
                    }
                    Kind::Int(..) | Kind::IntIn(_) | Kind::Port => SqlValue::Int(
                        v.parse()
                            .map_err(|_| reason(a.name, format!("'{v}' is not an integer")))?,
                    ),
                    Kind::Ip => SqlValue::Text(
                        v.parse::<IpAddr>()
                            .map(|i| i.to_string())
                            .unwrap_or_else(|_| v.clone()),
                    ),
                    Kind::Cidr | Kind::IpPrefix => SqlValue::Text(
                        v.parse::<IpNet>()
                            .map(|i| i.to_string())
                            .unwrap_or_else(|_| v.clone()),
                    ),
                    Kind::Mac => SqlValue::Text(v.to_ascii_lowercase()),
                    _ => SqlValue::Text(v.clone()),
                });
            }
            Ok(Some(Condition::is_in(col, out)))
        }
    }
}

/// The project a created resource belongs to: the caller's, unless an admin names another
/// one (`project_id` or `tenant_id`, which must agree).
pub fn owner(body: &Map<String, Value>, ctx: &RequestContext) -> ApiResult<String> {
    let p = body.get("project_id").and_then(Value::as_str);
    let t = body.get("tenant_id").and_then(Value::as_str);
    if let (Some(p), Some(t)) = (p, t)
        && p != t
    {
        return Err(bad_request(
            "Specifying 'project_id' or 'tenant_id' with different values is not allowed",
        ));
    }
    match p.or(t) {
        Some(p) if p != ctx.project_id && !ctx.sees_all() => Err(bad_request(
            "Specifying 'project_id' other than the authenticated project in request is not \
             allowed for the current user.",
        )),
        Some(p) => Ok(p.to_string()),
        None => Ok(ctx.project_id.clone()),
    }
}

/// Read helpers for a checked body.
pub trait BodyExt {
    /// A string attribute.
    fn str_of(&self, k: &str) -> Option<String>;
    /// A boolean attribute.
    fn bool_of(&self, k: &str) -> Option<bool>;
    /// An integer attribute.
    fn int_of(&self, k: &str) -> Option<i64>;
    /// A list of strings.
    fn strs_of(&self, k: &str) -> Option<Vec<String>>;
    /// Whether the key is present with `null`.
    fn is_null(&self, k: &str) -> bool;
}

impl BodyExt for Map<String, Value> {
    fn str_of(&self, k: &str) -> Option<String> {
        self.get(k).and_then(Value::as_str).map(String::from)
    }
    fn bool_of(&self, k: &str) -> Option<bool> {
        self.get(k).and_then(Value::as_bool)
    }
    fn int_of(&self, k: &str) -> Option<i64> {
        self.get(k).and_then(Value::as_i64)
    }
    fn strs_of(&self, k: &str) -> Option<Vec<String>> {
        self.get(k).and_then(Value::as_array).map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
    }
    fn is_null(&self, k: &str) -> bool {
        matches!(self.get(k), Some(Value::Null))
    }
}
