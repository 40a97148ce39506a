"""Captures identity tokens and signed control messages produced by upstream slim-bindings.

Run with the interpreter of a virtualenv that has `slim-bindings==3.3.8`:

    python capture_upstream.py            # writes upstream/{shared,es256,rs256,hs256}.json

For each identity kind, two apps (alice, bob) in one process open a point-to-point session
(routed locally, no node needed) and alice sends one message. Bob's `MessageContext.identity`
is alice's token as upstream minted it. The bindings expose no header signatures, so the
control messages are read from the debug trace of the embedded data plane, which prints each
received `Message`; the fields that make up the HeaderIntegrityAad and `e2e_header_sig` are
extracted from it.
"""
import datetime
import json
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
KEYS = os.path.join(HERE, "keys")
SECRET = "slim-rs-interop-test-secret-0123456789abcdef"
AUDIENCE = "slim-rs-test"
ISSUER = "upstream-issuer"
MODES = ["shared", "es256", "rs256", "hs256"]


def run_apps(mode, out_path):
    """Child process: create the apps, exchange a message, record the token."""
    import slim_bindings as sb

    td = lambda s: datetime.timedelta(seconds=s)
    sb.initialize_with_configs(
        sb.new_runtime_config(),
        sb.new_tracing_config_with("debug", False, False, []),
        [sb.new_service_config()],
    )
    svc = sb.get_global_service()

    def jwt_configs(subject):
        algorithm = {"es256": sb.JwtAlgorithm.ES256, "rs256": sb.JwtAlgorithm.RS256,
                     "hs256": sb.JwtAlgorithm.HS256}[mode]
        if mode == "hs256":
            secret = open(os.path.join(KEYS, "hs256.secret")).read()
            enc = dec = sb.JwtKeyData.DATA(value=secret)
        else:
            stem = "es256" if mode == "es256" else "rsa"
            enc = sb.JwtKeyData.FILE(path=os.path.join(KEYS, stem + ".key.pem"))
            dec = sb.JwtKeyData.FILE(path=os.path.join(KEYS, stem + ".pub.pem"))
        key = lambda data: sb.JwtKeyConfig(algorithm=algorithm, format=sb.JwtKeyFormat.PEM, key=data)
        provider = sb.IdentityProviderConfig.JWT(config=sb.ClientJwtAuth(
            key=sb.JwtKeyType.ENCODING(key=key(enc)), audience=[AUDIENCE], issuer=ISSUER,
            subject=subject, duration=td(3600)))
        verifier = sb.IdentityVerifierConfig.JWT(config=sb.JwtAuth(
            key=sb.JwtKeyType.DECODING(key=key(dec)), audience=[AUDIENCE], issuer=ISSUER,
            subject=None, duration=td(3600)))
        return provider, verifier

    def make_app(service):
        name = sb.Name("org", "ns", service)
        if mode == "shared":
            return name, svc.create_app_with_secret(name, SECRET)
        provider, verifier = jwt_configs(service + "-subject")
        return name, svc.create_app(name, provider, verifier)

    _, alice = make_app("alice")
    bob_name, bob = make_app("bob")
    config = sb.SessionConfig(session_type=sb.SessionType.POINT_TO_POINT, max_retries=None,
                              interval=None, metadata={}, mls_settings=None)
    minted_at = int(time.time())
    session = alice.create_session_and_wait(config, bob_name)
    incoming = bob.listen_for_session(td(5))
    session.publish(b"hi", None, None)
    message = incoming.get_message(td(5))
    with open(out_path, "w") as f:
        json.dump({"alice_app_id": alice.id(), "bob_app_id": bob.id(), "minted_at": minted_at,
                   "alice_token_seen_by_bob": message.context.identity}, f)
    sb.shutdown_blocking()


NAME_RE = re.compile(
    r'component_0: (\d+), component_1: (\d+), component_2: (\d+), '
    r'name_id: (?:Some\(NameId \{ id_0: (\d+), id_1: (\d+) \}\)|None)'
    r'.*?str_component_0: "([^"]*)", str_component_1: "([^"]*)", str_component_2: "([^"]*)"')


def parse_name(text):
    m = NAME_RE.search(text)
    id_hex = None if m.group(4) is None else "%016x%016x" % (int(m.group(4)), int(m.group(5)))
    return {"hashes": [int(m.group(i)) for i in (1, 2, 3)], "id": id_hex,
            "components": [m.group(i) for i in (6, 7, 8)]}


def signed_control_messages(trace):
    seen, out = set(), []
    for line in trace.splitlines():
        line = re.sub(r"\x1b\[[0-9;]*m", "", line)
        if "received publication" not in line or "e2e_header_sig: Some" not in line:
            continue
        header = line[line.index("header: Some(SlimHeader"):]
        signature = bytes(json.loads(re.search(r"e2e_header_sig: Some\((\[[^\]]*\])", header).group(1)))
        session = re.search(r"session_type: (\w+), session_message_type: (\w+), "
                            r"session_id: (\d+), message_id: (\d+)", line)
        key = (session.group(2), session.group(4), signature)
        if key in seen:
            continue
        seen.add(key)
        content = re.search(r"content_type: Some\((\w+)", line).group(1)
        payload_type = re.search(r'payload_type: "([^"]*)"', line)
        payload_sig = re.search(r'"slim-payload-sig": "([^"]*)"', line)
        out.append({
            "session_type": session.group(1),
            "session_message_type": session.group(2),
            "session_id": int(session.group(3)),
            "message_id": int(session.group(4)),
            "payload_type": payload_type.group(1) if payload_type and content == "AppPayload" else "",
            "source": parse_name(header[header.index("source:"):header.index("destination:")]),
            "destination": parse_name(header[header.index("destination:"):header.index("identity:")]),
            "identity": re.search(r'identity: "([^"]*)"', header).group(1),
            "e2e_header_sig_hex": signature.hex(),
            "slim_payload_sig_b64": payload_sig.group(1) if payload_sig else None,
        })
    return out


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        run_apps(sys.argv[2], sys.argv[3])
        return
    os.makedirs(os.path.join(HERE, "upstream"), exist_ok=True)
    for mode in MODES:
        token_path = os.path.join(HERE, "upstream", mode + ".token.tmp")
        trace = subprocess.run([sys.executable, __file__, "--child", mode, token_path],
                               capture_output=True, text=True, timeout=120, check=True).stdout
        vector = json.load(open(token_path))
        os.remove(token_path)
        vector.update({"mode": mode, "secret": SECRET if mode == "shared" else None,
                       "audience": AUDIENCE, "issuer": ISSUER,
                       "signed_control_messages": signed_control_messages(trace)})
        with open(os.path.join(HERE, "upstream", mode + ".json"), "w") as f:
            json.dump(vector, f, indent=1)
            f.write("\n")
        print(mode, len(vector["signed_control_messages"]), "signed control messages")


if __name__ == "__main__":
    main()
