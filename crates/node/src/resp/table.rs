//! The command table: every command the node answers to, with how it runs here. What a
//! command is in Redis's terms (arity, flags, key positions, docs) is its
//! [`CommandSpec`] in `meridian_resp`'s table; this table pairs each spec with its handler,
//! one file per command family, and with how the connection schedules it. A test holds the
//! two tables to each other: every spec has exactly one entry, every entry a spec.
//!
//! Adding a command: its spec (`meridian_resp`), one entry here, one handler.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use bytes::Bytes;
use meridian_replica::Replica;
use meridian_resp::Reply;
use meridian_resp::command::{self, CommandSpec};

use super::Server;
use super::exec::{Answer, Session};
use super::{
    connection, expiry, hashes, hyperloglog, keys, lists, pubsub, registers, replication, server,
    sets, strings, text, transaction, zranges, zsets,
};

/// A command that may write, wait or change the connection; its arity was checked.
pub(crate) type Handler = fn(&Arc<Server>, &mut Session, &[Bytes]) -> Answer;

/// A point read: it reads only the keys, members or fields it names, so its cost does not
/// grow with the size of a key; its arity was checked.
pub(crate) type PointRead = fn(&Replica, &[Bytes]) -> Reply;

/// How the connection runs a command.
#[derive(Clone, Copy)]
pub(crate) enum Run {
    /// Answered under a read hold of the core's lock, with every point read that follows it
    /// in the pipeline under the same hold.
    Point(PointRead),
    /// Run in request order; a write's reply waits until it is durable.
    Call(Handler),
    /// A command that waits (a blocking pop, a causal wait): every earlier reply goes out
    /// before it runs, and what follows it in the pipeline runs once it is answered, as in
    /// Redis, where a blocked client's next command runs once it is unblocked.
    Barrier(Handler),
}

/// One command: its spec and how it runs.
pub(crate) struct Entry {
    pub(crate) spec: &'static CommandSpec,
    pub(crate) run: Run,
}

impl Entry {
    /// Whether it runs before AUTH (Redis's `no_auth` flag: AUTH, HELLO, QUIT).
    pub(crate) fn runs_unauthenticated(&self) -> bool {
        self.spec.flags.contains(&"no_auth")
    }
}

use Run::{Barrier, Call, Point};

/// Every command, by the name of its spec.
const ENTRIES: &[(&str, Run)] = &[
    // connection.rs
    ("ping", Call(connection::ping)),
    ("echo", Call(connection::echo)),
    ("hello", Call(connection::hello)),
    ("auth", Call(connection::auth)),
    ("client", Call(connection::client)),
    ("select", Call(connection::select)),
    ("quit", Call(connection::quit)),
    ("reset", Call(connection::reset)),
    ("command", Call(connection::command)),
    // server.rs
    ("info", Call(server::info)),
    ("config", Call(server::config)),
    ("time", Call(server::time)),
    // keys.rs
    ("dbsize", Call(keys::dbsize)),
    ("randomkey", Call(keys::randomkey)),
    ("flushall", Call(keys::flushall)),
    ("flushdb", Call(keys::flushall)),
    ("del", Call(keys::del)),
    ("unlink", Call(keys::unlink)),
    ("exists", Point(keys::exists)),
    ("touch", Point(keys::exists)),
    ("type", Point(keys::key_type)),
    ("keys", Call(keys::keys)),
    ("scan", Call(keys::scan)),
    // expiry.rs
    ("expire", Call(expiry::expire)),
    ("pexpire", Call(expiry::pexpire)),
    ("expireat", Call(expiry::expireat)),
    ("pexpireat", Call(expiry::pexpireat)),
    ("ttl", Point(expiry::ttl)),
    ("pttl", Point(expiry::pttl)),
    ("expiretime", Point(expiry::expiretime)),
    ("pexpiretime", Point(expiry::pexpiretime)),
    ("persist", Call(expiry::persist)),
    // replication.rs
    ("wait", Call(replication::wait)),
    ("waittoken", Barrier(replication::wait_token)),
    // strings.rs
    ("set", Call(strings::set)),
    ("get", Point(strings::get)),
    ("mget", Point(strings::mget)),
    ("mset", Call(strings::mset)),
    ("getdel", Call(strings::getdel)),
    ("setex", Call(strings::setex)),
    ("psetex", Call(strings::psetex)),
    ("getex", Call(strings::getex)),
    ("strlen", Point(strings::strlen)),
    ("incr", Call(strings::incr)),
    ("incrby", Call(strings::incrby)),
    ("decr", Call(strings::decr)),
    ("decrby", Call(strings::decrby)),
    ("setnx", Call(strings::setnx)),
    ("getset", Call(strings::getset)),
    ("msetnx", Call(strings::msetnx)),
    ("append", Call(strings::append)),
    ("getrange", Call(strings::getrange)),
    ("setrange", Call(strings::setrange)),
    // sets.rs
    ("sadd", Call(sets::sadd)),
    ("srem", Call(sets::srem)),
    ("smembers", Call(sets::smembers)),
    ("sismember", Point(sets::sismember)),
    ("smismember", Point(sets::smismember)),
    ("scard", Point(sets::scard)),
    ("sunion", Call(sets::sunion)),
    ("sinter", Call(sets::sinter)),
    ("sdiff", Call(sets::sdiff)),
    ("sunionstore", Call(sets::sunionstore)),
    ("sinterstore", Call(sets::sinterstore)),
    ("sdiffstore", Call(sets::sdiffstore)),
    ("sintercard", Call(sets::sintercard)),
    ("smove", Call(sets::smove)),
    ("srandmember", Call(sets::srandmember)),
    ("spop", Call(sets::spop)),
    ("sscan", Call(sets::sscan)),
    // hashes.rs
    ("hset", Call(hashes::hset)),
    ("hget", Point(hashes::hget)),
    ("hmget", Point(hashes::hmget)),
    ("hdel", Call(hashes::hdel)),
    ("hgetall", Call(hashes::hgetall)),
    ("hkeys", Call(hashes::hkeys)),
    ("hvals", Call(hashes::hvals)),
    ("hlen", Point(hashes::hlen)),
    ("hexists", Point(hashes::hexists)),
    ("hincrby", Call(hashes::hincrby)),
    ("hsetnx", Call(hashes::hsetnx)),
    ("hmset", Call(hashes::hmset)),
    ("hstrlen", Point(hashes::hstrlen)),
    ("hrandfield", Call(hashes::hrandfield)),
    ("hscan", Call(hashes::hscan)),
    ("zadd", Call(zsets::zadd)),
    ("zincrby", Call(zsets::zincrby)),
    ("zrem", Call(zsets::zrem)),
    ("zscore", Point(zsets::zscore)),
    ("zmscore", Point(zsets::zmscore)),
    ("zcard", Point(zsets::zcard)),
    ("zcount", Point(zsets::zcount)),
    ("zlexcount", Point(zsets::zlexcount)),
    ("zrank", Point(zsets::zrank)),
    ("zrevrank", Point(zsets::zrevrank)),
    ("zrange", Call(zranges::zrange)),
    ("zrangebyscore", Call(zranges::zrangebyscore)),
    ("zrevrangebyscore", Call(zranges::zrevrangebyscore)),
    ("zrevrange", Call(zranges::zrevrange)),
    ("zrangebylex", Call(zranges::zrangebylex)),
    ("zrevrangebylex", Call(zranges::zrevrangebylex)),
    ("zpopmin", Call(zsets::zpopmin)),
    ("zpopmax", Call(zsets::zpopmax)),
    ("zrandmember", Call(zranges::zrandmember)),
    ("zscan", Call(zranges::zscan)),
    ("zunionstore", Call(zsets::zunionstore)),
    ("zinterstore", Call(zsets::zinterstore)),
    // hyperloglog.rs
    ("pfadd", Call(hyperloglog::pfadd)),
    ("pfcount", Point(hyperloglog::pfcount)),
    ("pfmerge", Call(hyperloglog::pfmerge)),
    ("multi", Call(transaction::multi)),
    ("exec", Call(transaction::exec)),
    ("discard", Call(transaction::discard)),
    ("watch", Call(transaction::watch)),
    ("unwatch", Call(transaction::unwatch)),
    ("subscribe", Call(pubsub::subscribe)),
    ("psubscribe", Call(pubsub::psubscribe)),
    ("unsubscribe", Call(pubsub::unsubscribe)),
    ("punsubscribe", Call(pubsub::punsubscribe)),
    ("publish", Call(pubsub::publish)),
    ("pubsub", Call(pubsub::pubsub)),
    // registers.rs
    ("mvset", Call(registers::mvset)),
    ("mvget", Call(registers::mvget)),
    // lists.rs
    ("lpush", Call(lists::lpush)),
    ("rpush", Call(lists::rpush)),
    ("lpushx", Call(lists::lpushx)),
    ("rpushx", Call(lists::rpushx)),
    ("linsert", Call(lists::linsert)),
    ("lrange", Call(lists::lrange)),
    ("lindex", Call(lists::lindex)),
    ("llen", Call(lists::llen)),
    ("lset", Call(lists::lset)),
    ("lrem", Call(lists::lrem)),
    ("ltrim", Call(lists::ltrim)),
    ("lpos", Call(lists::lpos)),
    ("lpop", Call(lists::lpop)),
    ("rpop", Call(lists::rpop)),
    ("lmove", Call(lists::lmove)),
    ("rpoplpush", Call(lists::rpoplpush)),
    ("blpop", Barrier(lists::blpop)),
    ("brpop", Barrier(lists::brpop)),
    ("blmove", Barrier(lists::blmove)),
    ("brpoplpush", Barrier(lists::brpoplpush)),
    // text.rs
    ("text.insert", Call(text::insert)),
    ("text.delete", Call(text::delete)),
    ("text.get", Call(text::get)),
    ("text.range", Call(text::range)),
    ("text.len", Call(text::len)),
    ("text.cursor", Call(text::cursor)),
    ("text.resolve", Call(text::resolve)),
];

/// The longest command name looked up; longer ones are unknown without a search.
const MAX_NAME: usize = 32;

/// The entries by lower-case name; specs without an entry are left out (the test below
/// keeps there being none).
static TABLE: LazyLock<HashMap<&'static [u8], Entry>> = LazyLock::new(|| {
    ENTRIES
        .iter()
        .filter_map(|&(name, run)| {
            let spec = command::lookup(name.as_bytes())?;
            Some((spec.name.as_bytes(), Entry { spec, run }))
        })
        .collect()
});

/// The command a request names (any case), if the node has it.
pub(crate) fn lookup(name: &[u8]) -> Option<&'static Entry> {
    if name.len() > MAX_NAME {
        return None;
    }
    let mut lower = [0u8; MAX_NAME];
    let lower = &mut lower[..name.len()];
    lower.copy_from_slice(name);
    lower.make_ascii_lowercase();
    TABLE.get(&*lower)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn every_spec_has_exactly_one_entry_and_every_entry_a_spec() {
        let specs: BTreeSet<&str> = command::all().map(|s| s.name).collect();
        let entries: Vec<&str> = ENTRIES.iter().map(|(name, _)| *name).collect();
        let unique: BTreeSet<&str> = entries.iter().copied().collect();
        assert_eq!(unique.len(), entries.len(), "a command has two entries");
        let missing: Vec<_> = specs.difference(&unique).collect();
        let extra: Vec<_> = unique.difference(&specs).collect();
        assert!(missing.is_empty(), "specs without a handler: {missing:?}");
        assert!(extra.is_empty(), "handlers without a spec: {extra:?}");
        assert!(specs.iter().all(|s| s.len() <= MAX_NAME));
    }

    #[test]
    fn lookup_ignores_case_and_refuses_what_is_not_there() {
        assert_eq!(lookup(b"GeT").map(|e| e.spec.name), Some("get"));
        assert_eq!(
            lookup(b"TEXT.INSERT").map(|e| e.spec.name),
            Some("text.insert")
        );
        assert!(lookup(b"nosuchcommand").is_none());
        assert!(lookup(&[b'a'; MAX_NAME + 1]).is_none());
        assert!(lookup(b"").is_none());
    }

    #[test]
    fn only_auth_hello_quit_and_reset_run_before_auth() {
        let open: BTreeSet<&str> = ENTRIES
            .iter()
            .filter_map(|(name, _)| lookup(name.as_bytes()))
            .filter(|e| e.runs_unauthenticated())
            .map(|e| e.spec.name)
            .collect();
        assert_eq!(open, BTreeSet::from(["auth", "hello", "quit", "reset"]));
    }
}
