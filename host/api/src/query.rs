//! List query strings: filters (repeated keys OR), tag filters, `fields`, sorting and
//! pagination, checked against a resource's attribute map.

use neutrino_ml2::RequestContext;
use neutrino_ml2::store::query::{Condition, ListQuery, Sort};

use crate::attrs::{Attr, Filter, filter_condition};
use crate::error::{ApiResult, bad_request, invalid_input};

/// A parsed list request.
#[derive(Debug, Default)]
pub struct ListParams {
    /// What goes to the store.
    pub query: ListQuery,
    /// Requested fields (empty = all).
    pub fields: Vec<String>,
    /// The raw pairs, to rebuild pagination links.
    pub pairs: Vec<(String, String)>,
}

const TAG_KEYS: [&str; 4] = ["tags", "tags-any", "not-tags", "not-tags-any"];

/// Split a raw query string into decoded pairs.
pub fn pairs(raw: Option<&str>) -> Vec<(String, String)> {
    raw.map(|q| {
        form_urlencoded::parse(q.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    })
    .unwrap_or_default()
}

/// Only the `fields` of a query string (for show requests).
pub fn fields_only(raw: Option<&str>) -> Vec<String> {
    pairs(raw)
        .into_iter()
        .filter(|(k, _)| k == "fields")
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
        .collect()
}

/// Parse a list query for a resource whose tags live under `tag_resource`.
pub fn parse(
    raw: Option<&str>,
    attrs: &[Attr],
    tag_resource: &str,
    max_limit: Option<u64>,
    ctx: &RequestContext,
) -> ApiResult<ListParams> {
    let pairs = pairs(raw);
    let mut params = ListParams::default();
    let mut grouped: Vec<(String, Vec<String>)> = Vec::new();
    let mut sort_keys = Vec::new();
    let mut sort_dirs = Vec::new();
    let mut limit: Option<u64> = None;
    // Tags of each tag filter; a repeated key adds to its list (`tags=a&tags=b` = `tags=a,b`).
    let mut tag_filters: [Vec<String>; 4] = Default::default();
    for (k, v) in &pairs {
        match k.as_str() {
            "fields" => {
                if !v.is_empty() {
                    params.fields.push(v.clone());
                }
            }
            "sort_key" => sort_keys.push(v.clone()),
            "sort_dir" => sort_dirs.push(v.clone()),
            "limit" => {
                // Neutron's `_get_limit_param`: `BadRequest(resource='limit')`.
                let bad = || {
                    crate::error::ApiError(neutrino_ml2::Error::neutron(
                        "BadRequest",
                        400,
                        format!(
                            "Bad limit request: Limit must be an integer 0 or greater and \
                             not '{v}'."
                        ),
                    ))
                };
                let n: i64 = v.parse().map_err(|_| bad())?;
                if n < 0 {
                    return Err(bad());
                }
                limit = Some(n as u64);
            }
            "marker" => params.query.marker = Some(v.clone()),
            "page_reverse" => {
                params.query.page_reverse = crate::attrs::to_bool(&serde_json::Value::String(v.clone()))
                    .ok_or_else(|| invalid_input(format!("Invalid input for page_reverse. Reason: '{v}' cannot be converted to boolean.")))?;
            }
            t if TAG_KEYS.contains(&t) => {
                let slot = TAG_KEYS.iter().position(|k| *k == t).unwrap_or(0);
                for tag in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    if !tag_filters[slot].iter().any(|x| x == tag) {
                        tag_filters[slot].push(tag.to_string());
                    }
                }
            }
            "changed_since" => {
                params
                    .query
                    .conditions
                    .push(Condition::raw("updated_at >= ?", vec![v.clone().into()]));
            }
            _ => match grouped.iter_mut().find(|(name, _)| name == k) {
                Some((_, vals)) => vals.push(v.clone()),
                None => grouped.push((k.clone(), vec![v.clone()])),
            },
        }
    }
    for (slot, tags) in tag_filters.iter().enumerate() {
        if tags.is_empty() {
            continue;
        }
        params.query.conditions.push(match TAG_KEYS[slot] {
            "tags" => Condition::tags_all(tag_resource, tags, false),
            "tags-any" => Condition::tags_any(tag_resource, tags, false),
            "not-tags" => Condition::tags_all(tag_resource, tags, true),
            _ => Condition::tags_any(tag_resource, tags, true),
        });
    }
    let mut invalid = Vec::new();
    for (name, values) in &grouped {
        let Some(a) = attrs.iter().find(|a| a.name == name.as_str()) else {
            invalid.push(name.clone());
            continue;
        };
        if matches!(a.filter, Filter::No) {
            invalid.push(name.clone());
            continue;
        }
        if let Some(c) = filter_condition(a, values, ctx)? {
            params.query.conditions.push(c);
        }
    }
    if !invalid.is_empty() {
        return Err(bad_request(format!(
            "[{}] is invalid attribute for filtering",
            invalid
                .iter()
                .map(|n| format!("'{n}'"))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    // Neutron's `get_sorts`: every sort_key needs its sort_dir.
    if sort_keys.len() != sort_dirs.len() {
        return Err(bad_request(
            "The number of sort_keys and sort_dirs must be same",
        ));
    }
    for (i, key) in sort_keys.iter().enumerate() {
        let column = attrs
            .iter()
            .find(|a| a.name == key.as_str())
            .and_then(|a| a.sort)
            .ok_or_else(|| bad_request(format!("{key} is invalid attribute for sort_keys")))?;
        let dir = sort_dirs.get(i).map(String::as_str).unwrap_or("asc");
        let ascending = match dir {
            "asc" => true,
            "desc" => false,
            other => {
                return Err(bad_request(format!(
                    "{other} is invalid value for sort_dirs, valid values are 'asc' and 'desc'"
                )));
            }
        };
        if !params.query.sorts.iter().any(|s| s.column == column) {
            params.query.sorts.push(Sort {
                column: column.to_string(),
                ascending,
            });
        }
    }
    let limit = match (limit, max_limit) {
        (Some(0), m) | (None, m) => m,
        (Some(n), Some(m)) => Some(n.min(m)),
        (Some(n), None) => Some(n),
    };
    params.query.limit = limit;
    params.pairs = pairs;
    Ok(params)
}
