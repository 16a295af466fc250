#!/usr/bin/env python3
"""Writes the hand-made seeds of tests/fuzz/corpus/ (docs/fuzzing.md): valid inputs of each
kind and every hostile case of issue 9. The files are checked in; run this again only to
change them (python3 tests/fuzz/make_seeds.py). Inputs libFuzzer found and merged with
scripts/fuzz.sh --merge sit beside them under their hash names."""
import base64
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

EVENT_ID = "3b241101-e2bb-4255-8caf-4136c566a962"


def event(event_type="ProductPriceUpdate", region="US", data='{"price":7.31}',
          product="AB12CD34EF", created="2024-07-26T14:41:17.123Z", event_id=EVENT_ID):
    """An event as JSON text; `data` is raw JSON text (None: no data member)."""
    text = ('{"eventId":%s,"eventType":%s,"productId":%s,"region":%s,"createdAt":%s'
            % tuple(json.dumps(v) for v in (event_id, event_type, product, region, created)))
    if data is not None:
        text += ',"data":' + data
    return text + "}"


HUGE_NUMBER = "9" + "8" * 120 + "2E292"


def deep(levels):
    return "[" * levels + "]" * levels


# Message values as a producer may write them to product-event (bytes).
EVENTS = {
    "price_update": event(),
    "country": event("Country", data='{"country":"FR"}'),
    "country_default": event("Country", data=None),
    "discount_update": event("SpecificProductDiscountUpdate", "EU", '{"discount":0.25}'),
    "two_lines": event() + "\n" + event("Country", data='{"country":"DE"}'),
    # Nesting: the issue's ~100k levels of arrays inside arrays, and the edges of a 64 limit.
    "deep_nesting_100k": event("Country", data='{"country":"US","x":' + deep(100000) + "}"),
    "deep_nesting_64": event(data=deep(63)),
    "deep_nesting_65": event(data=deep(64)),
    "deep_objects": event(data='{"a":' * 2000 + "1" + "}" * 2000),
    # Duplicate keys, at the top and inside data.
    "duplicate_key": event().replace('"eventType":"ProductPriceUpdate"',
                                     '"eventType":"ProductPriceUpdate","eventType":"Country"'),
    "duplicate_key_data": event("Country", data='{"country":"US","country":"FR"}'),
    # Topic characters: data.country and region become part of a topic name.
    "topic_space": event("Country", data='{"country":"United States"}'),
    "topic_slash": event("Country", data='{"country":"US/../EU"}'),
    "topic_300_chars": event("Country", data=json.dumps({"country": "C" * 300})),
    "topic_underscores": event("Country", data='{"country":"_consumer_offsets"}'),
    "topic_unicode": event(region="Überland"),
    "topic_number": event("Country", data='{"country":42}'),
    "topic_null": event("Country", data='{"country":null}'),
    "region_empty": event(region=""),
    # Types the router does not declare.
    "undeclared_type": event("Refund"),
    "type_not_string": event().replace('"eventType":"ProductPriceUpdate"', '"eventType":7'),
    # Huge strings.
    "huge_string": event(product="P" * 65536),
    "huge_data_string": event(data=json.dumps({"note": "x" * 65536})),
    # Dates the validator accepts in its reduced and basic forms.
    "created_year": event(created="2024"),
    "created_basic": event(created="20240726T144117Z"),
    "created_offset": event(created="2024-07-26T14:41:17.123+05:30"),
    "created_leap": event(created="2024-02-29T23:59:60Z"),
    "created_far": event(created="9999-12-31T23:59:59.999Z"),
    "created_zero": event(created="0000-01-01T00:00:00Z"),
    "bad_uuid": event(event_id="not-a-uuid"),
    "numbers": event(data='{"a":1e308,"b":-0,"c":123456789012345678901234567890,"d":1.5e-400}'),
    # A zero significand with a large exponent: RapidJSON 1.1.0's full-precision parse calls
    # clz(0) on it and reads a garbage number (found by the history_query target).
    "number_zero_exponent": event(data='{"x":0e47}'),
    # 120 digits times 1e292: RapidJSON 1.1.0's full-precision parse reads past its table of
    # cached powers and returns 4.1e42 (found by the history_query target).
    "number_huge_exponent": event(data='{"x":%s}' % HUGE_NUMBER),
}
# Invalid UTF-8 and other bytes that are not an event.
RAW_EVENTS = {
    "invalid_utf8": event(product="AB\xffCD").encode("latin-1"),
    "invalid_utf8_overlong": event("Country", data='{"country":"\xc0\xaf"}').encode("latin-1"),
    "lone_surrogate": event(product="\\ud800").encode(),
    # RapidJSON decodes an escaped lone LOW surrogate into bytes that are not UTF-8 (found by
    # attacking the running binary: the store kept them and the history served them).
    "lone_low_surrogate": event("Country", data='{"country":"SE","x":"\\udc00"}').encode(),
    "nul_inside": event(product="A\\u0000B").encode(),
    "not_json": b"product-event",
    "empty": b"",
    "array": b"[]",
    "truncated": event().encode()[:40],
}

# GET /event query strings, and cursors on their own.
def cursor(plain):
    return base64.urlsafe_b64encode(plain.encode()).decode().rstrip("=")


QUERIES = {
    "one_id": "productIds=AB12CD34EF",
    "all_params": "productIds=A,B,%20C&limit=10&eventType=Country&from=2024-01-01&to=2025-01-01"
                  "&cursor=" + cursor("1:1721999999999:" + EVENT_ID),
    "plus_and_escapes": "productIds=A+B%2CC&limit=%31%30",
    "bad_escape": "productIds=A%zz",
    "truncated_escape": "productIds=A%4",
    "invalid_utf8": "productIds=%FF%FE",
    "limit_zero": "productIds=A&limit=0",
    "limit_huge": "productIds=A&limit=99999999999999999999999",
    "limit_negative": "productIds=A&limit=-1",
    "ids_201": "productIds=" + ",".join("P%d" % i for i in range(201)),
    "empty_ids": "productIds=,,,",
    "repeated_keys": "productIds=A&productIds=B&limit=1&limit=2",
    "cursor_forged": "productIds=A&cursor=" + cursor("1:-9223372036854775808:x"),
    "cursor_bad_version": "productIds=A&cursor=" + cursor("2:5:abc"),
    "cursor_long": "productIds=A&cursor=" + "A" * 600,
    "from_after_to": "productIds=A&from=2025-01-01&to=2024-01-01",
    "dates_odd": "productIds=A&from=9999-12-31T23:59:59Z&to=0000",
    "cursor_alone": cursor("1:1721999999999:" + EVENT_ID),
    "cursor_alone_int_overflow": cursor("1:99999999999999999999:id"),
    "cursor_alone_no_id": cursor("1:5:"),
    # GET /api/analytics and /api/products/recent (the same target, the same bytes).
    "analytics_window": "from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z&bucket=1h&top=20",
    "analytics_too_long": "from=2020-01-01&to=2026-01-01&bucket=1m",
    "analytics_bad": "bucket=2m&top=0&from=x&to=-1",
    "analytics_edges": "from=1970-01-01T00:00:00Z&to=9999-12-31T23:59:59.999Z&top=100&bucket=7d",
    "recent_limit": "limit=50",
}
# POST /event bodies (the same target: parse_push_request on the same bytes).
PUSHES = {
    "push_one": '{"events":[%s]}' % event(),
    "push_all_types": '{"events":[%s,%s,%s]}' % (
        event(), event("Country", data='{"country":"FR"}'),
        event("SpecificProductDiscountUpdate", "EU")),
    "push_zero": '{"events":[]}',
    "push_201": '{"events":[%s]}' % ",".join([event()] * 201),
    "push_deep_nesting_100k": '{"events":[%s]}' % event(data=deep(100000)),
    "push_duplicate_key": '{"events":[%s],"events":[]}' % event(),
    "push_duplicate_key_event": '{"events":[%s]}' % EVENTS["duplicate_key"],
    "push_topic_300_chars": '{"events":[%s]}' % EVENTS["topic_300_chars"],
    "push_topic_space": '{"events":[%s]}' % EVENTS["topic_space"],
    "push_undeclared_type": '{"events":[%s]}' % EVENTS["undeclared_type"],
    "push_huge_string": '{"events":[%s]}' % event(product="P" * 65536),
    "push_not_array": '{"events":{}}',
    "push_event_not_object": '{"events":[1,"x",null]}',
    "push_number_zero_exponent": '{"events":[%s]}' % EVENTS["number_zero_exponent"],
    # The fast path (push_scan.hpp): events produced as sent, and events it writes as the DOM
    # path does (a number JSON.stringify writes otherwise, whitespace), in one body.
    "push_fast_and_rewritten": '{"events":[%s,%s,%s]}' % (
        event(), event(data='{"price":930.0,"old":7.30}'),
        event(data='{ "price" : 1e2 }')),
    "push_spaced_body": '{\n "events": [\n  %s\n ]\n}\n' % event(),
    "push_escaped_string": '{"events":[%s]}' % event(product="AB\\u0031CD"),
    "number_zero_exponent": "0e47",
    "number_huge_exponent": HUGE_NUMBER,
}
RAW_PUSHES = {
    "push_invalid_utf8": ('{"events":[%s]}' % event(product="AB\xffCD")).encode("latin-1"),
}


# Lines of a mongoexport file of the original's events collection (`pemx import`).
UUID_B64 = base64.b64encode(bytes.fromhex(EVENT_ID.replace("-", ""))).decode()


def document(event_id='{"$binary":{"base64":"%s","subType":"04"}}' % UUID_B64,
             created='{"$date":"2024-07-26T14:41:17.123Z"}', data='{"newPrice":7.31}'):
    """A document as mongoexport writes it; each argument is raw JSON text."""
    return ('{"_id":{"$oid":"66a3b1f2c0ffee0000000001"},"eventId":%s,"eventType":'
            '"ProductPriceUpdate","productId":"AB12CD34EF","region":"US","createdAt":%s,'
            '"data":%s,"__v":0}' % (event_id, created, data))


DOCUMENTS = {
    "relaxed": document(),
    "canonical": document(created='{"$date":{"$numberLong":"1722004877123"}}',
                          data='{"newPrice":{"$numberDouble":"7.31"},"n":{"$numberInt":"1"},'
                               '"l":{"$numberLong":"9007199254740993"},'
                               '"d":{"$numberDecimal":"19.99"}}'),
    "uuid": document(event_id='{"$uuid":"%s"}' % EVENT_ID.upper()),
    "legacy_binary": document(event_id='{"$binary":"%s","$type":"04"}' % UUID_B64),
    "subtype_03": document(event_id='{"$binary":{"base64":"%s","subType":"03"}}' % UUID_B64),
    "bad_base64": document(event_id='{"$binary":{"base64":"%s","subType":"04"}}' % UUID_B64[:-1]),
    "short_uuid": document(event_id='{"$binary":{"base64":"AAEC","subType":"04"}}'),
    "plain_ids": document(event_id='"%s"' % EVENT_ID, created='"2024-07-26T14:41:17Z"'),
    "date_offset": document(created='{"$date":"2024-07-26T16:41:17.123+02:00"}'),
    "date_1900": document(created='{"$date":{"$numberLong":"-2208988800000"}}'),
    "date_edges": document(created='{"$date":{"$numberLong":"-62167219200000"}}',
                           data='{"a":{"$date":{"$numberLong":"253402300799999"}},'
                                '"b":{"$date":{"$numberLong":"-9223372036854775808"}},"c":{"$date":1}}'),
    "non_finite": document(data='{"a":{"$numberDouble":"Infinity"},"b":{"$numberDouble":"NaN"}}'),
    "decimal_huge": document(data='{"a":{"$numberDecimal":"1E+6144"}}'),
    "nested_wrappers": document(data='{"x":[{"$oid":"66A3B1F2C0FFEE0000000001"},'
                                     '{"y":{"$uuid":"%s"}}]}' % EVENT_ID),
    "unknown_operator": document(data='{"t":{"$timestamp":{"t":1,"i":1}}}'),
    "wrapper_extra_key": document(data='{"t":{"$date":"2024-01-01T00:00:00Z","x":1}}'),
    "missing_event_id": '{"eventType":"Country"}',
    "duplicate_key": document(data='{"a":1,"a":2}'),
    "deep_wrappers": document(data='{"a":' * 63 + '{"$numberInt":"1"}' + "}" * 63),
    "json_array": "[" + document() + "]",
}


def config_seed(extra_toml="", sets=()):
    with open(os.path.join(ROOT, "pemx.toml")) as f:
        text = f.read()
    text += extra_toml
    for s in sets:
        text += "--set " + s + "\n"
    return text


MINIMAL = """[roles]
r = ["router"]
[queues.events]
capacity = 8
[queues.routed]
capacity = 8
[stages.router]
type = "rules_router"
input = "events"
output = "routed"
[[stages.router.rules]]
name = "all"
match = "*"
topic = "t-{region}"
"""
CONFIGS = {
    "pemx_toml": config_seed(),
    "pemx_toml_sets": config_seed(sets=[
        "kafka.brokers=embedded", "http.listen=127.0.0.1:0", "store.path=/tmp/x.db",
        "stages.router.validation=off", "log.level=debug", 'kafka.properties."socket.timeout.ms"=100']),
    "sets_bad": config_seed(sets=["=x", "nokey", "a.b.c.=1", "roles.dist=[", "stages=1"]),
    "minimal": MINIMAL,
    "rule_forms": MINIMAL + """[[stages.router.rules]]
name = "in"
match = [{ field = "region", in = ["US", "EU"] }, { field = "data.x", exists = true }]
topic = "x-{data.x}-{region}"
defaults = { "data.x" = "0" }
allowed = { region = ["US", "EU"] }
""",
    "bad_template": MINIMAL.replace('"t-{region}"', '"t-{region"'),
    "unknown_key": MINIMAL + "colour = 1\n[kafka]\nbrokerz = \"x\"\n",
    "durations": "[log]\nstats_interval = \"250ms\"\n[shutdown]\ndrain_timeout = \"-1h\"\n",
    "queue_graph_bad": MINIMAL.replace('output = "routed"', 'output = "events"'),
    "deep_toml": "a = " + "[" * 1000 + "]" * 1000 + "\n",
    "only_sets": "--set kafka.brokers=embedded\n--set roles.x=[\"router\"]\n",
}


# Kafka headers lineage reads ("name\0value\0" each; the lineage_headers target).
def headers(*pairs):
    return b"".join(n + b"\0" + v + b"\0" for n, v in pairs)


LINEAGE_HEADERS = {
    "routed": headers((b"pemx-event-id", EVENT_ID.encode()), (b"pemx-source-topic", b"product-event"),
                      (b"pemx-source-partition", b"2"), (b"pemx-source-offset", b"12345"),
                      (b"pemx-rules-version", b"47c4b117e15c818e")),
    "dead_letter": headers((b"pemx-event-id", EVENT_ID.encode()), (b"pemx-dlq-reason", b"illegal_topic"),
                           (b"pemx-dlq-detail", b"topic \"a b\" is not a legal name"),
                           (b"pemx-dlq-stage", b"router")),
    "bad_numbers": headers((b"pemx-source-partition", b"-1"), (b"pemx-source-offset", b"99999999999999999999"),
                           (b"pemx-source-partition", b"2147483648")),
    "long_value_utf8": headers((b"pemx-dlq-detail", "\u00e9".encode() * 700)),
    "invalid_utf8": headers((b"pemx-event-id", b"\xff\xfe\xc3"), (b"pemx-dlq-reason", b"\xed\xa0\x80")),
    "others_skipped": headers((b"traceparent", b"00-abc"), (b"PEMX-EVENT-ID", b"x"), (b"", b"")),
}


def write(target, name, content):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    if isinstance(content, str):
        content = content.encode()
    if len(content) > 250 * 1024:
        sys.exit("%s/%s is %d bytes: keep seeds under 250 KB" % (target, name, len(content)))
    with open(os.path.join(d, name), "wb") as f:
        f.write(content)


def main():
    for name, text in EVENTS.items():
        write("event_route", name, text)
    for name, data in RAW_EVENTS.items():
        write("event_route", name, data)
    for name, text in {**QUERIES, **PUSHES}.items():
        write("history_query", name, text)
    for name, data in RAW_PUSHES.items():
        write("history_query", name, data)
    for name, text in CONFIGS.items():
        write("config_load", name, text)
    for name, text in DOCUMENTS.items():
        write("import_document", name, text)
    for name, data in LINEAGE_HEADERS.items():
        write("lineage_headers", name, data)


if __name__ == "__main__":
    main()
