//! Causal tokens as clients see them: a version vector written `actor:seq` pairs joined by
//! commas, actors ascending (`1:5,2:3`; the empty vector is the empty string). Readable on
//! purpose, so that a person learning replication can see what a token says.

use meridian_crdt::{ActorId, MAX_DECODED_ACTORS, VersionVector};

/// A vector as a token.
pub(crate) fn format_token(vv: &VersionVector) -> String {
    let mut out = String::new();
    for (i, (actor, seq)) in vv.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&format!("{}:{seq}", actor.0));
    }
    out
}

/// A token back as a vector, or why it is not one.
pub(crate) fn parse_token(token: &[u8]) -> Result<VersionVector, String> {
    let text = std::str::from_utf8(token).map_err(|_| "a token is ASCII text".to_owned())?;
    let mut vv = VersionVector::new();
    if text.is_empty() {
        return Ok(vv);
    }
    let mut previous: Option<u32> = None;
    for (i, pair) in text.split(',').enumerate() {
        if i >= MAX_DECODED_ACTORS {
            return Err(format!(
                "a token names at most {MAX_DECODED_ACTORS} regions"
            ));
        }
        let (actor, seq) = pair
            .split_once(':')
            .ok_or_else(|| format!("{pair:?} is not actor:seq"))?;
        let actor: u32 = actor
            .parse()
            .map_err(|_| format!("{actor:?} is not an actor id"))?;
        let seq: u64 = seq
            .parse()
            .map_err(|_| format!("{seq:?} is not a sequence number"))?;
        if previous.is_some_and(|p| p >= actor) {
            return Err("actors must be ascending, each once".to_owned());
        }
        if seq == 0 {
            return Err(format!("actor {actor} has seq 0: leave it out"));
        }
        previous = Some(actor);
        vv.set(ActorId(actor), seq);
    }
    Ok(vv)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_bad_ones_say_why() {
        let mut vv = VersionVector::new();
        assert_eq!(parse_token(format_token(&vv).as_bytes()), Ok(vv.clone()));
        vv.set(ActorId(1), 5);
        vv.set(ActorId(3), 12);
        assert_eq!(format_token(&vv), "1:5,3:12");
        assert_eq!(parse_token(b"1:5,3:12"), Ok(vv));
        for bad in [
            "1", "1:", ":5", "1:5,1:6", "2:1,1:1", "1:0", "x:1", "1:5,", "1:-1",
        ] {
            assert!(parse_token(bad.as_bytes()).is_err(), "{bad:?} was accepted");
        }
        assert!(parse_token(&[0xff]).is_err());
    }
}
