//! Bearer tokens (RFC 6750): `Authorization: Bearer TOKEN`, or, for the dashboard in a
//! browser, the `runner_token` cookie its login form sets.
//!
//! A token is checked on every request against the tokens table as it is then, so
//! `runner token revoke` takes effect on a running server at once. What the client sent is
//! hashed (sha256, as stored) and compared with every stored hash in constant time
//! (`subtle`), so neither the comparison's time nor an early exit says how much of a guess
//! matched. A token that is presented must be valid even where none is needed: a wrong or
//! revoked one is refused, never ignored.

use axum::http::{HeaderMap, StatusCode, header};
use subtle::ConstantTimeEq as _;

use crate::ApiError;
use crate::app::App;

/// The cookie the dashboard's login form sets.
pub(crate) const COOKIE: &str = "runner_token";

/// Who is calling: the name of a valid token, or `None` when no token was presented.
///
/// Errors: 401 `invalid_token` (malformed, or no such token), 401 `revoked_token`, 500
/// when the tokens cannot be read.
pub(crate) fn caller(app: &App, headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(token) = presented(headers)? else { return Ok(None) };
    let sent = base::Digest::of_bytes(token.as_bytes()).to_hex();
    let tokens = app.db().token_hashes()?;
    let mut found: Option<(&str, bool)> = None;
    for (name, hash, revoked) in &tokens {
        // Every stored hash is compared, whatever matched before.
        if bool::from(sent.as_bytes().ct_eq(hash.as_bytes())) {
            found = Some((name, *revoked));
        }
    }
    match found {
        Some((name, false)) => Ok(Some(name.to_owned())),
        Some((name, true)) => Err(unauthorized(
            "revoked_token",
            format!("the token `{name}` was revoked (see `runner token list`)"),
        )),
        None => Err(unauthorized("invalid_token", "the bearer token is not one of this server's")),
    }
}

/// The name of the valid token the caller presented.
///
/// Errors: as [`caller`], and 401 `missing_token` when none was presented.
pub(crate) fn require(app: &App, headers: &HeaderMap) -> Result<String, ApiError> {
    caller(app, headers)?.ok_or_else(|| {
        unauthorized(
            "missing_token",
            "this needs a bearer token: `Authorization: Bearer TOKEN` (make one with `runner \
             token create --name NAME`)",
        )
    })
}

/// For a dashboard page: the caller may read it (a valid token, or none on a loopback
/// address).
///
/// Errors: as [`caller`]; 401 `missing_token` off loopback without a token.
pub(crate) fn may_read(app: &App, headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let who = caller(app, headers)?;
    if who.is_none() && !app.loopback {
        return require(app, headers).map(Some);
    }
    Ok(who)
}

fn unauthorized(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, code, message)
}

/// The token the request carries: the `Authorization: Bearer` header, else the cookie.
///
/// Errors: 401 `invalid_token` for an `Authorization` header that is not `Bearer TOKEN`.
fn presented(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let text = value.to_str().unwrap_or("");
        let token = text
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim())
            .filter(|t| !t.is_empty());
        return match token {
            Some(t) => Ok(Some(t.to_owned())),
            None => Err(unauthorized(
                "invalid_token",
                "the Authorization header must be `Bearer TOKEN`",
            )),
        };
    }
    let cookies = headers.get_all(header::COOKIE);
    for value in cookies {
        for pair in value.to_str().unwrap_or("").split(';') {
            if let Some((k, v)) = pair.trim().split_once('=')
                && k == COOKIE
                && !v.is_empty()
            {
                return Ok(Some(v.to_owned()));
            }
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with(name: header::HeaderName, value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn a_token_comes_from_the_bearer_header_or_the_cookie() {
        assert_eq!(presented(&HeaderMap::new()).unwrap(), None);
        let h = with(header::AUTHORIZATION, "Bearer rt_abc");
        assert_eq!(presented(&h).unwrap().as_deref(), Some("rt_abc"));
        let h = with(header::AUTHORIZATION, "bearer  rt_abc ");
        assert_eq!(presented(&h).unwrap().as_deref(), Some("rt_abc"));
        let h = with(header::COOKIE, "a=b; runner_token=rt_x");
        assert_eq!(presented(&h).unwrap().as_deref(), Some("rt_x"));
        for bad in ["Basic dXNlcjpwYXNz", "Bearer", "Bearer   ", "rt_abc"] {
            let err = presented(&with(header::AUTHORIZATION, bad)).unwrap_err();
            assert_eq!(
                (err.status, err.code),
                (StatusCode::UNAUTHORIZED, "invalid_token"),
                "{bad}"
            );
        }
    }
}
