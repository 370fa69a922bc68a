//! The one API error type. Each variant maps to an HTTP status and a stable snake_case code;
//! internal failures are logged where they happen and the client only sees a generic message
//! (never SQL, file paths or a stack trace). The HTTP rendering lives in `http::error`.

use http::StatusCode;

use crate::domain::ParseError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    /// A request the framework refused before a handler ran (a path, query, body or
    /// handshake it could not read), with the status it chose.
    #[error("{message}")]
    Rejected {
        status: StatusCode,
        code: &'static str,
        message: String,
    },
    #[error("missing or invalid credentials")]
    Unauthorized,
    #[error("this token may not do that")]
    Forbidden,
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    #[error("the service window is full")]
    WindowFull,
    #[error("this external id was already used for a different message")]
    ExternalIdReused,
    #[error("this number opted out of text messages (STOP); it cannot be texted")]
    OptedOut,
    #[error("the request body is too large")]
    PayloadTooLarge,
    /// Too many requests for one key (token, customer, address); retry after the delay.
    #[error("too many requests; try again in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    /// Any other refusal with its own status and stable code.
    #[error("{message}")]
    Refused {
        status: StatusCode,
        code: &'static str,
        message: String,
    },
    /// A change the tenant's policy does not allow: a stable code and the rule that refused it.
    #[error("{message}")]
    PolicyRefused {
        code: &'static str,
        rule: String,
        message: String,
    },
    #[error("the store is unavailable")]
    Unavailable,
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            code,
            message: message.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Rejected { status, .. } => *status,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_)
            | ApiError::WindowFull
            | ApiError::OptedOut
            | ApiError::ExternalIdReused => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Refused { status, .. } => *status,
            ApiError::PolicyRefused { .. } => StatusCode::CONFLICT,
            ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest { code, .. } | ApiError::Rejected { code, .. } => code,
            ApiError::Unauthorized => "unauthorized",
            ApiError::Forbidden => "forbidden",
            ApiError::NotFound("customer") => "customer_not_found",
            ApiError::NotFound("conversation") => "conversation_not_found",
            ApiError::NotFound("escalation") => "escalation_not_found",
            ApiError::NotFound("tenant") => "tenant_not_found",
            ApiError::NotFound("route") => "route_not_found",
            ApiError::NotFound("appointment") => "appointment_not_found",
            ApiError::NotFound("slot") => "slot_not_found",
            ApiError::NotFound("property") => "property_not_found",
            ApiError::NotFound("zone") => "zone_not_found",
            ApiError::NotFound("webhook") => "webhook_not_found",
            ApiError::NotFound(_) => "not_found",
            ApiError::Conflict(_) => "conflict",
            ApiError::WindowFull => "window_full",
            ApiError::ExternalIdReused => "external_id_reused",
            ApiError::OptedOut => "opted_out",
            ApiError::PayloadTooLarge => "payload_too_large",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::Refused { code, .. } | ApiError::PolicyRefused { code, .. } => code,
            ApiError::Unavailable => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }

    pub fn refused(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError::Refused {
            status,
            code,
            message: message.into(),
        }
    }

    /// A `StoreError` seen while looking up `what`: absence becomes a 404 on that thing.
    pub fn from_store(what: &'static str) -> impl FnOnce(StoreError) -> ApiError {
        move |e| match e {
            StoreError::NotFound => ApiError::NotFound(what),
            other => other.into(),
        }
    }
}

impl From<crate::ratelimit::RetryAfter> for ApiError {
    fn from(r: crate::ratelimit::RetryAfter) -> Self {
        ApiError::RateLimited {
            retry_after_secs: r.secs(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::NotFound("resource"),
            StoreError::Conflict(what) => ApiError::Conflict(what.to_string()),
            StoreError::WindowFull => ApiError::WindowFull,
            e if e.is_unavailable() => ApiError::Unavailable,
            other => ApiError::Internal(other.into()),
        }
    }
}

impl From<ParseError> for ApiError {
    fn from(e: ParseError) -> Self {
        ApiError::BadRequest {
            code: e.code,
            message: e.message,
        }
    }
}

impl From<crate::agent::runtime::AgentError> for ApiError {
    fn from(e: crate::agent::runtime::AgentError) -> Self {
        match e {
            crate::agent::runtime::AgentError::Store(s) => s.into(),
            crate::agent::runtime::AgentError::Busy => {
                ApiError::Conflict("this message is still being processed; retry shortly".into())
            }
            crate::agent::runtime::AgentError::ExternalIdReused => ApiError::ExternalIdReused,
        }
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        ApiError::Internal(e)
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
