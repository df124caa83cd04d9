//! The authkey handshake of `multiprocessing.connection`, as Python 3.12+ does it, with the
//! legacy form of Python 3.11 and older when it is allowed.
//!
//! The side that delivers the challenge sends `#CHALLENGE#{sha256}` and 40 random bytes;
//! the other answers `{sha256}` and the HMAC-SHA256, keyed with the authkey, of everything
//! after `#CHALLENGE#`; the verdict is `#WELCOME#` or `#FAILURE#`. A listener delivers its
//! challenge first, then answers the client's; a client does the reverse.
//!
//! Legacy peers (Python 3.11 and older) send a 20-byte challenge with no digest prefix, and
//! answer any challenge with the raw 16-byte HMAC-MD5 of it: accepted only when allowed,
//! as is HMAC-MD5 in any form (Python 3.12 would take a `{md5}` answer; we do not, unless
//! legacy peers are allowed).
//! Every comparison of a MAC is in constant time (`hmac`'s `verify_slice`).

use hmac::{Hmac, Mac};

/// What starts a challenge.
pub const CHALLENGE: &[u8] = b"#CHALLENGE#";
/// The verdict that lets a peer in.
pub const WELCOME: &[u8] = b"#WELCOME#";
/// The verdict that turns it away.
pub const FAILURE: &[u8] = b"#FAILURE#";
/// Random bytes in a modern challenge.
pub const MESSAGE_LENGTH: usize = 40;
/// A legacy challenge's length (and a legacy reply's).
const LEGACY_MESSAGE_LENGTH: usize = 20;
/// An MD5 digest's length.
const MD5_LEN: usize = 16;
/// The largest handshake frame either side accepts.
pub const MAX_FRAME: u64 = 256;

/// A digest a handshake uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Digest {
    /// HMAC-MD5, the legacy form.
    Md5,
    /// HMAC-SHA256, the modern form's default.
    Sha256,
}

/// Why a handshake failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthError {
    /// The peer's MAC was wrong: it holds another key (or none).
    WrongDigest,
    /// Our answer was refused: we hold another key than the peer.
    Rejected,
    /// The peer spoke the legacy (HMAC-MD5) form, which this side does not allow.
    LegacyRefused,
    /// A frame that is not part of the protocol.
    Protocol(String),
}

impl std::fmt::Display for AuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::WrongDigest => f.write_str("the peer's digest was wrong: it does not hold the same authkey"),
            Self::Rejected => f.write_str("our digest was rejected: the peer does not hold the same authkey"),
            Self::LegacyRefused => f.write_str(
                "the peer uses the legacy HMAC-MD5 handshake (Python 3.11 or older); allow it with allow_legacy(true)",
            ),
            Self::Protocol(what) => write!(f, "handshake protocol error: {what}"),
        }
    }
}

/// The digest named by a message's `{name}` prefix and the payload after it; `None` for a
/// legacy message (16 or 20 bytes, no prefix).
pub fn digest_and_payload(message: &[u8]) -> Result<(Option<Digest>, &[u8]), AuthError> {
    if message.len() == LEGACY_MESSAGE_LENGTH || message.len() == MD5_LEN {
        return Ok((None, message));
    }
    let bad = || AuthError::Protocol(format!("a {}-byte message with no known digest prefix", message.len()));
    let rest = message.strip_prefix(b"{").ok_or_else(bad)?;
    // The longest name Python allows is 8 bytes (`sha3_384`).
    let close = rest.iter().take(10).position(|&b| b == b'}').ok_or_else(bad)?;
    let digest = match &rest[..close] {
        b"sha256" => Digest::Sha256,
        b"md5" => Digest::Md5,
        other => {
            return Err(AuthError::Protocol(format!(
                "digest {:?} is not supported here (sha256 and md5 are)",
                String::from_utf8_lossy(other)
            )))
        }
    };
    Ok((Some(digest), &rest[close + 1..]))
}

fn mac(digest: Digest, key: &[u8], message: &[u8]) -> Vec<u8> {
    match digest {
        Digest::Md5 => {
            let mut m = Hmac::<md5::Md5>::new_from_slice(key).expect("HMAC takes keys of any length");
            m.update(message);
            m.finalize().into_bytes().to_vec()
        }
        Digest::Sha256 => {
            let mut m = Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
            m.update(message);
            m.finalize().into_bytes().to_vec()
        }
    }
}

fn verify_mac(digest: Digest, key: &[u8], message: &[u8], tag: &[u8]) -> bool {
    match digest {
        Digest::Md5 => {
            let mut m = Hmac::<md5::Md5>::new_from_slice(key).expect("HMAC takes keys of any length");
            m.update(message);
            m.verify_slice(tag).is_ok()
        }
        Digest::Sha256 => {
            let mut m = Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
            m.update(message);
            m.verify_slice(tag).is_ok()
        }
    }
}

/// A new challenge (after `#CHALLENGE#`): `{sha256}` and 40 random bytes.
pub fn new_challenge() -> Result<Vec<u8>, std::io::Error> {
    let mut random = [0u8; MESSAGE_LENGTH];
    getrandom::getrandom(&mut random).map_err(std::io::Error::other)?;
    Ok([b"{sha256}".as_slice(), &random].concat())
}

/// The answer to the challenge frame `frame` (`#CHALLENGE#` and the message).
pub fn respond(key: &[u8], frame: &[u8], allow_legacy: bool) -> Result<Vec<u8>, AuthError> {
    let message = frame.strip_prefix(CHALLENGE).ok_or_else(|| {
        AuthError::Protocol(format!("expected a challenge, got {} bytes without one", frame.len()))
    })?;
    if message.len() < LEGACY_MESSAGE_LENGTH {
        return Err(AuthError::Protocol(format!("a challenge of {} bytes is too short", message.len())));
    }
    // The MAC covers the whole message, digest prefix included.
    match digest_and_payload(message)?.0 {
        None | Some(Digest::Md5) if !allow_legacy => Err(AuthError::LegacyRefused),
        None => Ok(mac(Digest::Md5, key, message)),
        Some(d) => {
            let name: &[u8] = if d == Digest::Md5 { b"{md5}" } else { b"{sha256}" };
            Ok([name, &mac(d, key, message)].concat())
        }
    }
}

/// Checks `response` to our challenge `message` (what followed `#CHALLENGE#`).
pub fn verify(key: &[u8], message: &[u8], response: &[u8], allow_legacy: bool) -> Result<(), AuthError> {
    let (digest, tag) = digest_and_payload(response)?;
    let digest = match digest {
        None | Some(Digest::Md5) if !allow_legacy => return Err(AuthError::LegacyRefused),
        None => Digest::Md5,
        Some(d) => d,
    };
    if verify_mac(digest, key, message, tag) {
        Ok(())
    } else {
        Err(AuthError::WrongDigest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_challenge_answered_with_the_same_key_verifies_and_with_another_does_not() {
        let message = new_challenge().unwrap();
        let frame = [CHALLENGE, &message].concat();
        let answer = respond(b"key", &frame, false).unwrap();
        assert!(answer.starts_with(b"{sha256}") && answer.len() == 8 + 32);
        assert_eq!(verify(b"key", &message, &answer, false), Ok(()));
        assert_eq!(verify(b"other", &message, &answer, false), Err(AuthError::WrongDigest));
        // A legacy answer (raw MD5) is refused unless allowed.
        let legacy = mac(Digest::Md5, b"key", &message);
        assert_eq!(verify(b"key", &message, &legacy, false), Err(AuthError::LegacyRefused));
        assert_eq!(verify(b"key", &message, &legacy, true), Ok(()));
    }

    #[test]
    fn a_legacy_challenge_is_answered_with_raw_md5_only_when_allowed() {
        let frame = [CHALLENGE, &[7u8; 20]].concat();
        assert_eq!(respond(b"k", &frame, false), Err(AuthError::LegacyRefused));
        assert_eq!(respond(b"k", &frame, true).unwrap(), mac(Digest::Md5, b"k", &[7u8; 20]));
    }

    #[test]
    fn malformed_frames_are_protocol_errors() {
        assert!(matches!(respond(b"k", b"hello", true), Err(AuthError::Protocol(_))));
        assert!(matches!(respond(b"k", b"#CHALLENGE#short", true), Err(AuthError::Protocol(_))));
        assert!(matches!(digest_and_payload(b"{sha999}xxxxxxxxxxxxxxxxxxxx"), Err(AuthError::Protocol(_))));
        assert!(matches!(digest_and_payload(b"{sha256xxxxxxxxxxxxxxxxxxxxx"), Err(AuthError::Protocol(_))));
    }
}
