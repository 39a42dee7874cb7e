//! Time-based one-time passwords (RFC 6238: HMAC-SHA-1, six digits, 30 s
//! steps), the arithmetic only; `totp-rs` computes the codes. Which step a
//! code matched is returned so the caller can refuse a replay of it.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use qrcode::QrCode;
use qrcode::render::svg;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use totp_rs::{Algorithm, Secret, TOTP};

pub const DIGITS: usize = 6;
pub const STEP_SECONDS: u64 = 30;
/// Steps either side of now that still count, for clocks that drift.
const WINDOW: i64 = 1;
/// 160 bits, the size RFC 4226 recommends for an HMAC-SHA-1 key.
const SECRET_BYTES: usize = 20;

/// A shared TOTP secret as base32 text. `Debug` never shows it.
#[derive(Clone)]
pub struct TotpSecret(SecretString);

impl std::fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSecret(***)")
    }
}

impl TotpSecret {
    pub fn generate() -> Self {
        let mut bytes = vec![0u8; SECRET_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(SecretString::from(
            Secret::Raw(bytes).to_encoded().to_string(),
        ))
    }

    /// A stored secret; `None` when it is not base32.
    pub fn from_base32(text: &str) -> Option<Self> {
        Secret::Encoded(text.to_owned()).to_bytes().ok()?;
        Some(Self(SecretString::from(text.to_owned())))
    }

    pub fn expose_base32(&self) -> &str {
        self.0.expose_secret()
    }

    fn totp(&self) -> TOTP {
        let bytes = Secret::Encoded(self.expose_base32().to_owned())
            .to_bytes()
            .expect("checked as base32 when made");
        TOTP::new_unchecked(Algorithm::SHA1, DIGITS, 0, STEP_SECONDS, bytes)
    }

    /// The code for a Unix time in seconds.
    pub fn code_at(&self, unix_seconds: u64) -> String {
        self.totp().generate(unix_seconds)
    }

    /// The step a code matches within one step of `unix_seconds`, if any.
    pub fn matching_step(&self, code: &str, unix_seconds: u64) -> Option<i64> {
        let code = code.trim();
        if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let totp = self.totp();
        let now = i64::try_from(unix_seconds / STEP_SECONDS).ok()?;
        (now - WINDOW..=now + WINDOW).find(|&step| {
            let Ok(at) = u64::try_from(step) else {
                return false;
            };
            let expected = totp.generate(at * STEP_SECONDS);
            constant_time_eq(expected.as_bytes(), code.as_bytes())
        })
    }

    /// The `otpauth://` URL authenticator apps read from the QR code.
    pub fn otpauth_url(&self, issuer: &str, account: &str) -> String {
        let label = format!("{issuer}:{account}");
        format!(
            "otpauth://totp/{}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
            percent(&label),
            self.expose_base32(),
            percent(issuer),
        )
    }
}

/// The QR code of `text` as an SVG `data:` URL for an `<img>`.
pub fn qr_svg_data_url(text: &str) -> Option<String> {
    let code = QrCode::new(text.as_bytes()).ok()?;
    let image = code
        .render::<svg::Color>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build();
    Some(format!(
        "data:image/svg+xml;base64,{}",
        STANDARD.encode(image)
    ))
}

fn percent(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1 rows: the key is the ASCII of
    /// "12345678901234567890" and the codes have eight digits.
    #[test]
    fn rfc_6238_sha1_test_vectors() {
        let totp = TOTP::new_unchecked(Algorithm::SHA1, 8, 0, 30, b"12345678901234567890".to_vec());
        for (time, code) in [
            (59, "94287082"),
            (1111111109, "07081804"),
            (1111111111, "14050471"),
            (1234567890, "89005924"),
            (2000000000, "69279037"),
            (20000000000, "65353130"),
        ] {
            assert_eq!(totp.generate(time), code, "at {time}");
        }
    }

    #[test]
    fn our_six_digit_codes_are_the_rfc_codes_truncated() {
        // Same key, base32; six digits are the last six of the eight.
        let secret = TotpSecret::from_base32("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ").unwrap();
        assert_eq!(secret.code_at(59), "287082");
        assert_eq!(secret.code_at(1111111109), "081804");
    }

    #[test]
    fn a_code_matches_within_one_step_either_side_only() {
        let secret = TotpSecret::generate();
        let now = 1_700_000_000;
        let step = (now / STEP_SECONDS) as i64;
        assert_eq!(secret.matching_step(&secret.code_at(now), now), Some(step));
        let before = secret.code_at(now - STEP_SECONDS);
        assert_eq!(secret.matching_step(&before, now), Some(step - 1));
        let after = secret.code_at(now + STEP_SECONDS);
        assert_eq!(secret.matching_step(&after, now), Some(step + 1));
        let stale = secret.code_at(now - 3 * STEP_SECONDS);
        if stale != before && stale != secret.code_at(now) && stale != after {
            assert_eq!(secret.matching_step(&stale, now), None);
        }
        assert_eq!(secret.matching_step("12345", now), None);
        assert_eq!(secret.matching_step("abcdef", now), None);
    }

    #[test]
    fn the_secret_is_hidden_and_the_qr_code_is_an_svg() {
        let secret = TotpSecret::generate();
        assert_eq!(format!("{secret:?}"), "TotpSecret(***)");
        assert_eq!(secret.expose_base32().len(), 32);
        let url = secret.otpauth_url("Bedside", "dr grey");
        assert!(url.starts_with("otpauth://totp/Bedside%3Adr%20grey?secret="));
        let qr = qr_svg_data_url(&url).unwrap();
        assert!(qr.starts_with("data:image/svg+xml;base64,"));
    }
}
