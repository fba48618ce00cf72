//! The command table: the commands Meridian serves with Redis's arities and key positions,
//! Redis's errors for unknown commands and wrong arities, and `COMMAND` replies laid out as
//! Redis 7 lays them out, in the shapes redis-cli asserts when it reads them for its hints.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use bytes::Bytes;
use meridian_resp::command::{self, ArgKind, CommandSpec};
use meridian_resp::{Protocol, Reply};

fn args(words: &[&str]) -> Vec<Bytes> {
    words
        .iter()
        .map(|w| Bytes::copy_from_slice(w.as_bytes()))
        .collect()
}

fn error_text(reply: Reply) -> String {
    match reply {
        Reply::Error(text) => text,
        other => panic!("not an error: {other:?}"),
    }
}

#[test]
fn the_table_lists_exactly_the_commands_meridian_serves() {
    let names: Vec<&str> = command::all().map(|c| c.name).collect();
    let expected = [
        "ping",
        "echo",
        "hello",
        "auth",
        "client",
        "select",
        "quit",
        "reset",
        "command",
        "info",
        "config",
        "time",
        "dbsize",
        "del",
        "randomkey",
        "flushall",
        "flushdb",
        "unlink",
        "touch",
        "exists",
        "type",
        "keys",
        "scan",
        "wait",
        "expire",
        "pexpire",
        "expireat",
        "pexpireat",
        "ttl",
        "pttl",
        "expiretime",
        "pexpiretime",
        "persist",
        "set",
        "setex",
        "psetex",
        "getex",
        "get",
        "mget",
        "mset",
        "getdel",
        "strlen",
        "incr",
        "incrby",
        "decr",
        "decrby",
        "setnx",
        "getset",
        "msetnx",
        "append",
        "getrange",
        "setrange",
        "sadd",
        "srem",
        "smembers",
        "sismember",
        "smismember",
        "scard",
        "sunion",
        "sinter",
        "sdiff",
        "sunionstore",
        "sinterstore",
        "sdiffstore",
        "sintercard",
        "smove",
        "srandmember",
        "spop",
        "sscan",
        "hset",
        "hget",
        "hmget",
        "hdel",
        "hgetall",
        "hkeys",
        "hvals",
        "hlen",
        "hexists",
        "hincrby",
        "hsetnx",
        "hmset",
        "hstrlen",
        "hrandfield",
        "hscan",
        "zadd",
        "zincrby",
        "zrem",
        "zscore",
        "zmscore",
        "zcard",
        "zcount",
        "zlexcount",
        "zrank",
        "zrevrank",
        "zrange",
        "zrangebyscore",
        "zrevrangebyscore",
        "zrevrange",
        "zrangebylex",
        "zrevrangebylex",
        "zpopmin",
        "zpopmax",
        "zrandmember",
        "zscan",
        "zunionstore",
        "zinterstore",
        "pfadd",
        "pfcount",
        "pfmerge",
        "multi",
        "exec",
        "discard",
        "watch",
        "unwatch",
        "subscribe",
        "psubscribe",
        "unsubscribe",
        "punsubscribe",
        "publish",
        "pubsub",
        "mvset",
        "mvget",
        "waittoken",
        "lpush",
        "rpush",
        "lpushx",
        "rpushx",
        "linsert",
        "lrange",
        "lindex",
        "llen",
        "lset",
        "lrem",
        "ltrim",
        "lpos",
        "lpop",
        "rpop",
        "lmove",
        "rpoplpush",
        "blpop",
        "brpop",
        "blmove",
        "brpoplpush",
        "text.insert",
        "text.delete",
        "text.get",
        "text.range",
        "text.len",
        "text.cursor",
        "text.resolve",
    ];
    assert_eq!(names, expected);
    let client = command::lookup(b"client").unwrap();
    let subs: Vec<&str> = client.subcommands.iter().map(|c| c.name).collect();
    assert_eq!(
        subs,
        [
            "client|setname",
            "client|getname",
            "client|id",
            "client|info",
            "client|setinfo"
        ]
    );
    let cmd = command::lookup(b"command").unwrap();
    let subs: Vec<&str> = cmd.subcommands.iter().map(|c| c.name).collect();
    assert_eq!(subs, ["command|count", "command|docs", "command|info"]);
    let config = command::lookup(b"config").unwrap();
    let subs: Vec<&str> = config.subcommands.iter().map(|c| c.name).collect();
    assert_eq!(subs, ["config|get", "config|set"]);
}

#[test]
fn arities_and_key_positions_are_redis_ones() {
    // (name, arity, first key, last key, step), from Redis 7's src/commands/*.json.
    let redis: &[(&str, i32, i32, i32, i32)] = &[
        ("ping", -1, 0, 0, 0),
        ("echo", 2, 0, 0, 0),
        ("hello", -1, 0, 0, 0),
        ("auth", -2, 0, 0, 0),
        ("client", -2, 0, 0, 0),
        ("client|setname", 3, 0, 0, 0),
        ("client|getname", 2, 0, 0, 0),
        ("client|id", 2, 0, 0, 0),
        ("client|info", 2, 0, 0, 0),
        ("client|setinfo", 4, 0, 0, 0),
        ("command", -1, 0, 0, 0),
        ("command|count", 2, 0, 0, 0),
        ("command|info", -2, 0, 0, 0),
        ("command|docs", -2, 0, 0, 0),
        ("select", 2, 0, 0, 0),
        ("quit", -1, 0, 0, 0),
        ("reset", 1, 0, 0, 0),
        ("info", -1, 0, 0, 0),
        ("del", -2, 1, -1, 1),
        ("exists", -2, 1, -1, 1),
        ("type", 2, 1, 1, 1),
        ("keys", 2, 0, 0, 0),
        ("scan", -2, 0, 0, 0),
        ("dbsize", 1, 0, 0, 0),
        ("set", -3, 1, 1, 1),
        ("get", 2, 1, 1, 1),
        ("mget", -2, 1, -1, 1),
        ("mset", -3, 1, -1, 2),
        ("getdel", 2, 1, 1, 1),
        ("strlen", 2, 1, 1, 1),
        ("incr", 2, 1, 1, 1),
        ("incrby", 3, 1, 1, 1),
        ("decr", 2, 1, 1, 1),
        ("decrby", 3, 1, 1, 1),
        ("sadd", -3, 1, 1, 1),
        ("srem", -3, 1, 1, 1),
        ("smembers", 2, 1, 1, 1),
        ("sismember", 3, 1, 1, 1),
        ("smismember", -3, 1, 1, 1),
        ("scard", 2, 1, 1, 1),
        ("hset", -4, 1, 1, 1),
        ("hget", 3, 1, 1, 1),
        ("hmget", -3, 1, 1, 1),
        ("hdel", -3, 1, 1, 1),
        ("hgetall", 2, 1, 1, 1),
        ("hkeys", 2, 1, 1, 1),
        ("hvals", 2, 1, 1, 1),
        ("hlen", 2, 1, 1, 1),
        ("hexists", 3, 1, 1, 1),
        ("hincrby", 4, 1, 1, 1),
        ("setnx", 3, 1, 1, 1),
        ("getset", 3, 1, 1, 1),
        ("msetnx", -3, 1, -1, 2),
        ("append", 3, 1, 1, 1),
        ("getrange", 4, 1, 1, 1),
        ("setrange", 4, 1, 1, 1),
        ("unlink", -2, 1, -1, 1),
        ("randomkey", 1, 0, 0, 0),
        ("flushall", -1, 0, 0, 0),
        ("flushdb", -1, 0, 0, 0),
        ("touch", -2, 1, -1, 1),
        ("sunion", -2, 1, -1, 1),
        ("sinter", -2, 1, -1, 1),
        ("sdiff", -2, 1, -1, 1),
        ("sunionstore", -3, 1, -1, 1),
        ("sinterstore", -3, 1, -1, 1),
        ("sdiffstore", -3, 1, -1, 1),
        // SINTERCARD numkeys key ... [LIMIT n]: keys found by numkeys (movablekeys).
        ("sintercard", -3, 0, 0, 0),
        ("smove", 4, 1, 2, 1),
        ("srandmember", -2, 1, 1, 1),
        ("spop", -2, 1, 1, 1),
        ("hrandfield", -2, 1, 1, 1),
        ("sscan", -3, 1, 1, 1),
        ("hscan", -3, 1, 1, 1),
        ("hsetnx", 4, 1, 1, 1),
        ("hmset", -4, 1, 1, 1),
        ("hstrlen", 3, 1, 1, 1),
        // ZUNIONSTORE/ZINTERSTORE destination numkeys key ...: Redis's first key is the
        // destination, the sources found by numkeys (movablekeys).
        ("zadd", -4, 1, 1, 1),
        ("zincrby", 4, 1, 1, 1),
        ("zrem", -3, 1, 1, 1),
        ("zscore", 3, 1, 1, 1),
        ("zmscore", -3, 1, 1, 1),
        ("zcard", 2, 1, 1, 1),
        ("zcount", 4, 1, 1, 1),
        ("zlexcount", 4, 1, 1, 1),
        ("zrank", 3, 1, 1, 1),
        ("zrevrank", 3, 1, 1, 1),
        ("zrange", -4, 1, 1, 1),
        ("zrangebyscore", -4, 1, 1, 1),
        ("zrevrangebyscore", -4, 1, 1, 1),
        ("zrevrange", -4, 1, 1, 1),
        ("zrangebylex", -4, 1, 1, 1),
        ("zrevrangebylex", -4, 1, 1, 1),
        ("zpopmin", -2, 1, 1, 1),
        ("zpopmax", -2, 1, 1, 1),
        ("zrandmember", -2, 1, 1, 1),
        ("zscan", -3, 1, 1, 1),
        ("zunionstore", -4, 1, 1, 1),
        ("zinterstore", -4, 1, 1, 1),
        ("pfadd", -2, 1, 1, 1),
        ("pfcount", -2, 1, -1, 1),
        ("pfmerge", -2, 1, -1, 1),
        ("multi", 1, 0, 0, 0),
        ("exec", 1, 0, 0, 0),
        ("discard", 1, 0, 0, 0),
        ("watch", -2, 1, -1, 1),
        ("unwatch", 1, 0, 0, 0),
        ("subscribe", -2, 0, 0, 0),
        ("psubscribe", -2, 0, 0, 0),
        ("unsubscribe", -1, 0, 0, 0),
        ("punsubscribe", -1, 0, 0, 0),
        ("publish", 3, 0, 0, 0),
        ("pubsub", -2, 0, 0, 0),
        ("pubsub|channels", -2, 0, 0, 0),
        ("pubsub|numsub", -2, 0, 0, 0),
        ("pubsub|numpat", 2, 0, 0, 0),
        ("config", -2, 0, 0, 0),
        ("config|get", -3, 0, 0, 0),
        ("config|set", -4, 0, 0, 0),
        ("time", 1, 0, 0, 0),
        ("wait", 3, 0, 0, 0),
        // Meridian's own: MVSET key value [CTX token], MVGET key, WAITTOKEN token timeout.
        ("expire", -3, 1, 1, 1),
        ("pexpire", -3, 1, 1, 1),
        ("expireat", -3, 1, 1, 1),
        ("pexpireat", -3, 1, 1, 1),
        ("ttl", 2, 1, 1, 1),
        ("pttl", 2, 1, 1, 1),
        ("expiretime", 2, 1, 1, 1),
        ("pexpiretime", 2, 1, 1, 1),
        ("persist", 2, 1, 1, 1),
        ("setex", 4, 1, 1, 1),
        ("psetex", 4, 1, 1, 1),
        ("getex", -2, 1, 1, 1),
        ("mvset", -3, 1, 1, 1),
        ("mvget", 2, 1, 1, 1),
        ("waittoken", 3, 0, 0, 0),
        ("lpush", -3, 1, 1, 1),
        ("rpush", -3, 1, 1, 1),
        ("lpushx", -3, 1, 1, 1),
        ("rpushx", -3, 1, 1, 1),
        ("linsert", 5, 1, 1, 1),
        ("lrange", 4, 1, 1, 1),
        ("lindex", 3, 1, 1, 1),
        ("llen", 2, 1, 1, 1),
        ("lset", 4, 1, 1, 1),
        ("lrem", 4, 1, 1, 1),
        ("ltrim", 4, 1, 1, 1),
        ("lpos", -3, 1, 1, 1),
        ("lpop", -2, 1, 1, 1),
        ("rpop", -2, 1, 1, 1),
        ("lmove", 5, 1, 2, 1),
        ("rpoplpush", 3, 1, 2, 1),
        ("blpop", -3, 1, -2, 1),
        ("brpop", -3, 1, -2, 1),
        ("blmove", 6, 1, 2, 1),
        ("brpoplpush", 4, 1, 2, 1),
        // Meridian's text: TEXT.INSERT key pos text, TEXT.DELETE key pos count, TEXT.GET key,
        // TEXT.RANGE key start stop, TEXT.LEN key, TEXT.CURSOR key pos, TEXT.RESOLVE key cursor.
        ("text.insert", 4, 1, 1, 1),
        ("text.delete", 4, 1, 1, 1),
        ("text.get", 2, 1, 1, 1),
        ("text.range", 4, 1, 1, 1),
        ("text.len", 2, 1, 1, 1),
        ("text.cursor", 3, 1, 1, 1),
        ("text.resolve", 3, 1, 1, 1),
    ];
    for &(name, arity, first, last, step) in redis {
        let spec = command::lookup_full_name(name.as_bytes()).expect(name);
        assert_eq!(
            (spec.arity, spec.first_key, spec.last_key, spec.step),
            (arity, first, last, step),
            "{name}"
        );
    }
    let listed: usize = command::all().map(|c| 1 + c.subcommands.len()).sum();
    assert_eq!(listed, redis.len(), "every command is checked");
}

#[test]
fn every_spec_is_well_formed() {
    const FLAGS: &[&str] = &[
        "write",
        "readonly",
        "denyoom",
        "admin",
        "pubsub",
        "noscript",
        "blocking",
        "loading",
        "stale",
        "skip_slowlog",
        "fast",
        "no_auth",
        "allow_busy",
        "movablekeys",
    ];
    const CATEGORIES: &[&str] = &[
        "keyspace",
        "read",
        "write",
        "set",
        "sortedset",
        "list",
        "hash",
        "string",
        "hyperloglog",
        "pubsub",
        "admin",
        "fast",
        "slow",
        "blocking",
        "dangerous",
        "connection",
        "transaction",
    ];
    let groups: BTreeSet<&str> = [
        "connection",
        "server",
        "generic",
        "string",
        "set",
        "hash",
        "sorted-set",
        "hyperloglog",
        "transactions",
        "pubsub",
        "list",
        "text",
    ]
    .into_iter()
    .collect();
    let mut specs: Vec<&CommandSpec> = command::all().collect();
    specs.extend(command::all().flat_map(|c| c.subcommands));
    for spec in specs {
        let name = spec.name;
        assert_eq!(name, name.to_ascii_lowercase(), "{name} is lower case");
        assert!(
            !spec.summary.is_empty() && spec.summary.ends_with('.'),
            "{name}"
        );
        assert!(
            spec.since.split('.').count() == 3,
            "{name} since {}",
            spec.since
        );
        assert!(groups.contains(spec.group), "{name} group {}", spec.group);
        // Flags and categories are known, and in the order Redis prints them.
        let flag_order: Vec<usize> = spec
            .flags
            .iter()
            .map(|f| FLAGS.iter().position(|k| k == f).expect(f))
            .collect();
        assert!(flag_order.is_sorted(), "{name} flags {:?}", spec.flags);
        let category_order: Vec<usize> = spec
            .acl_categories
            .iter()
            .map(|c| CATEGORIES.iter().position(|k| k == c).expect(c))
            .collect();
        assert!(category_order.is_sorted(), "{name} categories");
        // Redis's implicit categories.
        assert_eq!(
            spec.acl_categories.contains(&"fast"),
            spec.has_flag("fast"),
            "{name}: @fast exactly when fast"
        );
        if spec.subcommands.is_empty() {
            assert_eq!(
                spec.acl_categories.contains(&"slow"),
                !spec.has_flag("fast"),
                "{name}: @slow exactly when not fast"
            );
        }
        assert_eq!(
            spec.acl_categories.contains(&"write"),
            spec.has_flag("write"),
            "{name}"
        );
        assert_eq!(
            spec.acl_categories.contains(&"read"),
            spec.has_flag("readonly"),
            "{name}"
        );
        // Keys sit where the arguments say.
        let keys = spec
            .arguments
            .iter()
            .filter(|a| a.kind == ArgKind::Key)
            .count();
        let block_keys = spec
            .arguments
            .iter()
            .flat_map(|a| a.arguments)
            .filter(|a| a.kind == ArgKind::Key)
            .count();
        // A command whose keys move (SINTERCARD numkeys key ...) has no fixed key positions.
        assert_eq!(
            keys + block_keys > 0,
            spec.first_key > 0 || spec.has_flag("movablekeys"),
            "{name}: a key argument exactly when it has keys"
        );
        assert!(
            !(spec.has_flag("write") && spec.has_flag("readonly")),
            "{name}"
        );
    }
}

#[test]
fn only_handshake_commands_run_before_auth() {
    let no_auth: Vec<&str> = command::all()
        .filter(|c| c.has_flag("no_auth"))
        .map(|c| c.name)
        .collect();
    assert_eq!(no_auth, ["hello", "auth", "quit", "reset"]);
}

#[test]
fn lookup_ignores_case_and_knows_nothing_else() {
    assert_eq!(command::lookup(b"GeT").unwrap().name, "get");
    assert_eq!(command::lookup(b"MVSET").unwrap().name, "mvset");
    assert!(command::lookup(b"nosuchcommand").is_none());
    assert!(command::lookup(b"").is_none());
    // A full name is for COMMAND INFO and DOCS, not for running.
    assert!(command::lookup(b"client|setname").is_none());
    assert_eq!(
        command::lookup_full_name(b"CLIENT|SetName").unwrap().name,
        "client|setname"
    );
    assert!(command::lookup_full_name(b"client|nosuch").is_none());
    assert!(command::lookup_full_name(b"get|x").is_none());
}

#[test]
fn a_wrong_argument_count_is_refused_in_redis_words() {
    let get = command::lookup(b"get").unwrap();
    assert_eq!(command::check_arity(get, 2), Ok(()));
    assert_eq!(
        command::check_arity(get, 1),
        Err(Reply::error(
            "ERR wrong number of arguments for 'get' command"
        ))
    );
    assert!(command::check_arity(get, 3).is_err());
    let del = command::lookup(b"del").unwrap();
    assert!(command::check_arity(del, 1).is_err());
    assert!(command::check_arity(del, 2).is_ok());
    assert!(command::check_arity(del, 200).is_ok());
    let hset = command::lookup(b"hset").unwrap();
    assert!(command::check_arity(hset, 3).is_err());
    assert!(command::check_arity(hset, 4).is_ok());
}

#[test]
fn resolve_finds_commands_and_subcommands_and_words_errors_as_redis() {
    assert_eq!(command::resolve(&args(&["get", "k"])).unwrap().name, "get");
    assert_eq!(
        command::resolve(&args(&["Client", "SETNAME", "me"]))
            .unwrap()
            .name,
        "client|setname"
    );
    assert_eq!(
        command::resolve(&args(&["COMMAND"])).unwrap().name,
        "command"
    );
    assert_eq!(
        error_text(command::resolve(&args(&["foo", "a", "b"])).unwrap_err()),
        "ERR unknown command 'foo', with args beginning with: 'a' 'b' "
    );
    assert_eq!(
        error_text(command::resolve(&args(&["foo"])).unwrap_err()),
        "ERR unknown command 'foo', with args beginning with: "
    );
    assert_eq!(
        error_text(command::resolve(&args(&["GET"])).unwrap_err()),
        "ERR wrong number of arguments for 'get' command"
    );
    assert_eq!(
        error_text(command::resolve(&args(&["CLIENT"])).unwrap_err()),
        "ERR wrong number of arguments for 'client' command"
    );
    assert_eq!(
        error_text(command::resolve(&args(&["CLIENT", "SETNAME"])).unwrap_err()),
        "ERR wrong number of arguments for 'client|setname' command"
    );
    assert_eq!(
        error_text(command::resolve(&args(&["client", "kill", "x"])).unwrap_err()),
        "ERR unknown subcommand 'kill'. Try CLIENT SETNAME, GETNAME, ID, INFO or SETINFO."
    );
    assert_eq!(
        error_text(command::resolve(&args(&["COMMAND", "LIST"])).unwrap_err()),
        "ERR unknown subcommand 'LIST'. Try COMMAND COUNT, DOCS or INFO."
    );
    assert!(command::resolve(&[]).is_err());
}

#[test]
fn unknown_commands_are_shown_cut_as_redis_cuts_them() {
    let long = "x".repeat(200);
    let text = error_text(command::unknown_command(&args(&[&long, &long, "yy"])));
    assert_eq!(
        text,
        format!(
            "ERR unknown command '{}', with args beginning with: '{}' ",
            "x".repeat(128),
            "x".repeat(128)
        )
    );
    // Line breaks in what a client sent cannot break the reply's line.
    let reply = command::unknown_command(&args(&["a\r\nb"]));
    assert_eq!(
        reply.to_bytes(Protocol::Resp2),
        &b"-ERR unknown command 'a  b', with args beginning with: \r\n"[..]
    );
}

#[test]
fn command_info_is_laid_out_as_redis_7_lays_it_out() {
    // Redis 7.0's own reply to COMMAND INFO get, up to its key specs (which Meridian leaves
    // empty: clients fall back on the first key, last key and step).
    let reply = command::command_info_reply(&args(&["get", "nosuch"]));
    assert_eq!(
        reply.to_bytes(Protocol::Resp2),
        &b"*2\r\n*10\r\n$3\r\nget\r\n:2\r\n*2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:1\r\n\
           *3\r\n+@read\r\n+@string\r\n+@fast\r\n*0\r\n*0\r\n*0\r\n$-1\r\n"[..]
    );
    assert_eq!(
        reply.to_bytes(Protocol::Resp3),
        &b"*2\r\n*10\r\n$3\r\nget\r\n:2\r\n~2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:1\r\n\
           ~3\r\n+@read\r\n+@string\r\n+@fast\r\n~0\r\n*0\r\n*0\r\n_\r\n"[..]
    );
    // As Redis 7.0 sends COMMAND INFO client|setname mset, but for MSET's tips and key specs.
    let reply = command::command_info_reply(&args(&["client|setname", "MSET"]));
    assert_eq!(
        reply.to_bytes(Protocol::Resp2),
        &b"*2\r\n*10\r\n$14\r\nclient|setname\r\n:3\r\n*3\r\n+noscript\r\n+loading\r\n+stale\r\n\
           :0\r\n:0\r\n:0\r\n*2\r\n+@slow\r\n+@connection\r\n*0\r\n*0\r\n*0\r\n\
           *10\r\n$4\r\nmset\r\n:-3\r\n*2\r\n+write\r\n+denyoom\r\n:1\r\n:-1\r\n:2\r\n\
           *3\r\n+@write\r\n+@string\r\n+@slow\r\n*0\r\n*0\r\n*0\r\n"[..]
    );
}

#[test]
fn a_container_lists_its_subcommands_in_its_info() {
    let Reply::Array(fields) = command::command_info(command::lookup(b"client").unwrap()) else {
        panic!("an array");
    };
    assert_eq!(fields.len(), 10);
    let Reply::Array(subs) = &fields[9] else {
        panic!("subcommands are an array");
    };
    assert_eq!(subs.len(), 5);
    assert_eq!(
        subs[0],
        command::command_info(command::lookup_full_name(b"client|setname").unwrap())
    );
}

#[test]
fn command_count_and_command_cover_every_command() {
    let n = command::all().count();
    assert_eq!(command::command_count_reply(), Reply::Integer(n as i64));
    let Reply::Array(all) = command::command_reply() else {
        panic!("an array");
    };
    assert_eq!(all.len(), n);
    assert_eq!(command::command_info_reply(&[]), command::command_reply());
}

#[test]
fn reply_to_command_answers_every_command_subcommand() {
    assert_eq!(
        command::reply_to_command(&args(&["command"])),
        command::command_reply()
    );
    assert_eq!(
        command::reply_to_command(&args(&["COMMAND", "count"])),
        command::command_count_reply()
    );
    assert_eq!(
        command::reply_to_command(&args(&["command", "info", "get", "set"])),
        command::command_info_reply(&args(&["get", "set"]))
    );
    assert_eq!(
        command::reply_to_command(&args(&["command", "docs", "get"])),
        command::command_docs_reply(&args(&["get"]))
    );
    assert_eq!(
        error_text(command::reply_to_command(&args(&["command", "count", "x"]))),
        "ERR wrong number of arguments for 'command|count' command"
    );
}

#[test]
fn command_docs_is_laid_out_as_redis_7_lays_it_out() {
    let reply = command::command_docs_reply(&args(&["get", "nosuch", "ping"]));
    let expected = b"%2\r\n\
        $3\r\nget\r\n%4\r\n\
          $7\r\nsummary\r\n$34\r\nReturns the string value of a key.\r\n\
          $5\r\nsince\r\n$5\r\n1.0.0\r\n\
          $5\r\ngroup\r\n$6\r\nstring\r\n\
          $9\r\narguments\r\n*1\r\n%3\r\n\
            $4\r\nname\r\n$3\r\nkey\r\n$4\r\ntype\r\n$3\r\nkey\r\n$12\r\ndisplay_text\r\n$3\r\nkey\r\n\
        $4\r\nping\r\n%4\r\n\
          $7\r\nsummary\r\n$45\r\nReturns PONG, or the message if one is given.\r\n\
          $5\r\nsince\r\n$5\r\n1.0.0\r\n\
          $5\r\ngroup\r\n$10\r\nconnection\r\n\
          $9\r\narguments\r\n*1\r\n%4\r\n\
            $4\r\nname\r\n$7\r\nmessage\r\n$4\r\ntype\r\n$6\r\nstring\r\n\
            $5\r\nflags\r\n~1\r\n+optional\r\n$12\r\ndisplay_text\r\n$7\r\nmessage\r\n";
    assert_eq!(
        reply.to_bytes(Protocol::Resp3),
        Bytes::from_static(expected)
    );
    assert_eq!(
        command::command_docs_reply(&[]),
        Reply::Map(
            command::all()
                .map(|c| (
                    Reply::bulk(c.name.as_bytes().to_vec()),
                    command::command_docs(c)
                ))
                .collect()
        )
    );
}

/// What redis-cli 7 builds from `COMMAND DOCS` for one command: its argument hint, as
/// `cliAddArgument` writes it. It asserts the types it reads (names, summaries, types are
/// bulk strings; flags a set of simple strings); so does this.
fn redis_cli_hint(arguments: &Reply) -> String {
    let Reply::Array(arguments) = arguments else {
        panic!("arguments are an array");
    };
    let parts: Vec<String> = arguments.iter().map(redis_cli_argument).collect();
    parts.join(" ")
}

fn bulk_text(reply: &Reply) -> String {
    match reply {
        Reply::Bulk(b) => String::from_utf8(b.to_vec()).unwrap(),
        other => panic!("redis-cli asserts a bulk string, got {other:?}"),
    }
}

fn redis_cli_argument(arg: &Reply) -> String {
    let Reply::Map(fields) = arg else {
        panic!("an argument is a map");
    };
    let (mut name, mut kind, mut token) = (String::new(), String::new(), None);
    let (mut optional, mut multiple) = (false, false);
    let mut subargs = None;
    for (key, value) in fields {
        match bulk_text(key).as_str() {
            "name" => name = bulk_text(value),
            "type" => kind = bulk_text(value),
            "token" => token = Some(bulk_text(value)),
            "display_text" => {
                bulk_text(value);
            }
            "arguments" => subargs = Some(value),
            "flags" => {
                let Reply::Set(flags) = value else {
                    panic!("flags are a set");
                };
                for flag in flags {
                    match flag {
                        Reply::Simple(f) if f == "optional" => optional = true,
                        Reply::Simple(f) if f == "multiple" => multiple = true,
                        Reply::Simple(_) => {}
                        other => panic!("a flag is a simple string, got {other:?}"),
                    }
                }
            }
            other => panic!("unexpected field {other}"),
        }
    }
    let repeat = match kind.as_str() {
        "oneof" | "block" => {
            let Some(Reply::Array(subs)) = subargs else {
                panic!("{name} has arguments");
            };
            let parts: Vec<String> = subs.iter().map(redis_cli_argument).collect();
            parts.join(if kind == "oneof" { "|" } else { " " })
        }
        "pure-token" => String::new(),
        _ => name.clone(),
    };
    let mut token_part = token.unwrap_or_default();
    if !token_part.is_empty() && kind != "pure-token" {
        token_part.push(' ');
    }
    let mut out = String::new();
    if optional {
        out.push('[');
    }
    out.push_str(&token_part);
    out.push_str(&repeat);
    if multiple {
        out.push_str(&format!(" [{repeat} ...]"));
    }
    if optional {
        out.push(']');
    }
    out
}

#[test]
fn redis_cli_reads_the_docs_into_the_hints_meridian_means() {
    let Reply::Map(docs) = command::command_docs_reply(&[]) else {
        panic!("a map");
    };
    let mut hints = std::collections::BTreeMap::new();
    for (name, spec) in &docs {
        let name = bulk_text(name);
        let Reply::Map(fields) = spec else {
            panic!("docs are a map");
        };
        let mut hint = String::new();
        for (key, value) in fields {
            match bulk_text(key).as_str() {
                "summary" | "since" | "group" => {
                    bulk_text(value);
                }
                "arguments" => hint = redis_cli_hint(value),
                "subcommands" => {
                    let Reply::Map(subs) = value else {
                        panic!("subcommands are a map");
                    };
                    for (sub, sub_docs) in subs {
                        let Reply::Map(sub_fields) = sub_docs else {
                            panic!("docs are a map");
                        };
                        let sub_hint = sub_fields
                            .iter()
                            .find(|(k, _)| bulk_text(k) == "arguments")
                            .map(|(_, v)| redis_cli_hint(v))
                            .unwrap_or_default();
                        hints.insert(bulk_text(sub).replace('|', " "), sub_hint);
                    }
                }
                other => panic!("unexpected field {other}"),
            }
        }
        hints.insert(name, hint);
    }
    let expect = |name: &str, hint: &str| assert_eq!(hints[name], hint, "{name}");
    expect(
        "set",
        "key value [NX|XX] [GET] [EX seconds|PX milliseconds|EXAT unix-time-seconds|PXAT unix-time-milliseconds|KEEPTTL]",
    );
    expect("expire", "key seconds [NX|XX|GT|LT]");
    expect("setex", "key seconds value");
    expect(
        "getex",
        "key [EX seconds|PX milliseconds|EXAT unix-time-seconds|PXAT unix-time-milliseconds|PERSIST]",
    );
    expect("mset", "key value [key value ...]");
    expect("hset", "key field value [field value ...]");
    expect(
        "hello",
        "[protover [AUTH username password] [SETNAME clientname]]",
    );
    expect("auth", "[username] password");
    expect("scan", "cursor [MATCH pattern] [COUNT count] [TYPE type]");
    expect("del", "key [key ...]");
    expect("mvset", "key value [CTX token]");
    expect("wait", "numregions timeout");
    expect("waittoken", "token timeout");
    expect("client setinfo", "LIB-NAME libname|LIB-VER libver");
    expect("command docs", "[command-name [command-name ...]]");
    expect("dbsize", "");
    expect("linsert", "key BEFORE|AFTER pivot element");
    expect(
        "lpos",
        "key element [RANK rank] [COUNT num-matches] [MAXLEN len]",
    );
    expect("blmove", "source destination LEFT|RIGHT LEFT|RIGHT timeout");
    expect("blpop", "key [key ...] timeout");
    expect("lpop", "key [count]");
    expect("text.insert", "key position text");
    expect("sintercard", "numkeys key [key ...] [LIMIT limit]");
    expect("sunionstore", "destination key [key ...]");
    expect("config get", "parameter [parameter ...]");
    expect("hrandfield", "key [count [WITHVALUES]]");
    expect("sscan", "key cursor [MATCH pattern] [COUNT count]");
    expect("flushall", "[ASYNC|SYNC]");
    expect(
        "zadd",
        "key [NX|XX] [GT|LT] [CH] [INCR] score member [score member ...]",
    );
    expect(
        "zrange",
        "key start stop [BYSCORE|BYLEX] [REV] [LIMIT offset count] [WITHSCORES]",
    );
    expect(
        "zunionstore",
        "destination numkeys key [key ...] [WEIGHTS weight [weight ...]] [AGGREGATE SUM|MIN|MAX]",
    );
    expect("pfadd", "key [element [element ...]]");
    expect("pfmerge", "destkey sourcekey [sourcekey ...]");
    expect("reset", "");
    assert_eq!(
        hints.len(),
        45 + 5 + 3 + 20 + 7 + 19 + 4 + 3 + 2 + 3 + 12 + 22 + 5 + 9 + 3 + 1
    );
}
