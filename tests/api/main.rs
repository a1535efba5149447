//! Integration tests: each starts the real server on port 0 against a fresh SQLite database.
//! They are compiled into one binary; `helpers` holds the vocabulary.

mod helpers;

mod alerts;
mod byoc;
mod calls;
mod change_log;
mod console;
mod credentials;
mod decisions;
mod durability;
mod events;
mod hardening;
mod http_limits;
mod https;
mod keys;
mod loops;
mod outbound;
mod pacing;
mod proxy;
mod resolve;
mod routing;
mod rules;
mod security;
mod shutdown;
mod sip_alerts;
mod sip_auth_throttle;
mod sip_sizes;
mod sip_tcp;
mod sip_tls;
mod storage;
mod target_health;
mod tenancy;
mod voice_calls;
mod wire;
