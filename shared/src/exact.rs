//! Names, addresses and tokens are taken exactly as given: surrounding whitespace is refused
//! rather than trimmed away, so what a client sends is what is stored, and what
//! `api/openapi.json` says a valid value looks like is exactly what the app accepts.

/// `input`, when it neither starts nor ends with whitespace.
pub fn unpadded(input: &str) -> Result<&str, String> {
    if input.trim() == input {
        Ok(input)
    } else {
        Err("must not start or end with whitespace".into())
    }
}

#[cfg(test)]
mod tests {
    use super::unpadded;

    #[test]
    fn refuses_any_surrounding_whitespace() {
        assert_eq!(unpadded("Ana Lima"), Ok("Ana Lima"));
        for padded in [" Ana", "Ana ", "\tAna", "Ana\n", "\u{3000}Ana"] {
            assert!(unpadded(padded).is_err(), "{padded:?}");
        }
    }
}
