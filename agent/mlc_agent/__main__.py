"""`python -m mlc_agent init|cert|check|serve|service install|start|stop|remove|rotate-key`."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from mlc_agent import config as config_module
from mlc_agent import logs, security
from mlc_agent.config import CompanyConfig, ConfigError


def _init(args: argparse.Namespace) -> int:
    path = Path(args.config)
    if path.exists() and not args.force:
        print(f"{path} exists; use --force to replace it (the old API key stops working).", file=sys.stderr)
        return 2
    companies = []
    for spec in args.company:
        code, _, writes = spec.partition(":")
        companies.append(CompanyConfig(code=code.upper(), max_concurrent_writes=int(writes or 1)))
    key = security.new_api_key()
    base = path.resolve().parent
    text = config_module.render(
        listen=args.listen,
        api_key_hash=security.hash_api_key(key),
        log_path=args.log_path,
        state_dir=args.state_dir,
        cert=args.cert,
        key=args.key,
        home=args.sage_home,
        mode=args.mode,
        companies=companies,
        fake_data=args.fake_data,
        test_mode=args.test_mode,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    print(f"Wrote {path}.")
    cert_path = base / args.cert
    if not cert_path.exists() and not args.no_cert:
        fp = security.make_self_signed(cert_path, base / args.key, args.host)
        print(f"Wrote a self-signed certificate {cert_path}; SHA-256 fingerprint:\n{fp}")
    print("API key (shown once; enter it on the connector's company page):")
    print(key)
    return 0


def _cert(args: argparse.Namespace) -> int:
    config = config_module.load(args.config)
    if config.cert.exists() and not args.force:
        print(f"Using the existing certificate {config.cert}; SHA-256 fingerprint:")
        print(security.fingerprint(config.cert))
    else:
        fp = security.make_self_signed(config.cert, config.key, args.host)
        names = ", ".join(args.host)
        print(f"Wrote a self-signed certificate {config.cert} for {names}; SHA-256 fingerprint:")
        print(fp)
    if args.pem:
        # The certificate itself (public): pasted into the connector's company page.
        print(config.cert.read_text(encoding="ascii").strip())
    return 0


def _rotate(args: argparse.Namespace) -> int:
    path = Path(args.config)
    config_module.load(path)
    text = path.read_text(encoding="utf-8")
    key = security.new_api_key()
    new = re.sub(r"(?m)^api_key_hash\s*=.*$", f'api_key_hash = "{security.hash_api_key(key)}"', text)
    path.write_text(new, encoding="utf-8")
    print("New API key (shown once; the old one stops working when the agent restarts):")
    print(key)
    return 0


def _check(args: argparse.Namespace) -> int:
    """Open a session per configured company and read its account structure: pass/fail each."""
    import getpass

    from mlc_agent.errors import AgentError
    from mlc_agent.names import NAMES
    from mlc_agent.server import build_agent

    config = config_module.load(args.config)
    logs.setup(config.log_path)
    user = args.user or input("Sage user: ")
    password = (
        getpass.getpass("Sage password: ")
        if args.password_stdin is False
        else sys.stdin.readline().rstrip("\n")
    )
    agent = build_agent(config)
    failed = 0
    try:
        for code in config.companies:
            request = {"logon": {"username": user, "password": password}, "companyCode": code}
            try:
                structure = agent._boi(request, NAMES.read_task, lambda s, w: s.structure())
                print(f"PASS {code}: account mask {structure['mask']}")
            except AgentError as err:
                failed += 1
                print(f"FAIL {code}: {err.code}: {err.message}")
        pending = agent.store.counts().get("pending", 0)
        print(
            f"Idempotency store: {agent.store.counts().get('committed', 0)} committed, "
            f"{pending} pending key(s)."
        )
    finally:
        agent.close()
    return 1 if failed else 0


def _serve(args: argparse.Namespace) -> int:
    from mlc_agent.server import serve

    config = config_module.load(args.config)
    logs.setup(config.log_path, console=True)
    serve(config)
    return 0


def _service(args: argparse.Namespace) -> int:
    if sys.platform != "win32":
        print("The Windows service exists only on Windows; use `serve` here.", file=sys.stderr)
        return 2
    from mlc_agent import winservice

    return winservice.command(args.action, args.config)


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m mlc_agent` and `mlc-agent`."""
    parser = argparse.ArgumentParser(prog="mlc_agent", description="ml-connector Sage 100 agent")
    parser.add_argument("--config", default="agent.toml", help="configuration file (default agent.toml)")
    sub = parser.add_subparsers(dest="command", required=True)
    init = sub.add_parser("init", help="write a commented configuration and print a fresh API key")
    init.add_argument("--listen", default="0.0.0.0:8443")
    init.add_argument("--sage-home", default=r"C:\Sage\Sage 100\MAS90\Home")
    init.add_argument("--company", action="append", default=[], help="CODE or CODE:WRITES, repeatable")
    init.add_argument("--host", action="append", default=None, help="certificate host name/IP, repeatable")
    init.add_argument("--cert", default="tls/agent.crt")
    init.add_argument("--key", default="tls/agent.key")
    init.add_argument("--no-cert", action="store_true", help="do not create a self-signed certificate")
    init.add_argument("--log-path", default="logs/agent.log")
    init.add_argument("--state-dir", default="state")
    init.add_argument("--mode", choices=["com", "fake"], default="com")
    init.add_argument("--fake-data", default="", help=argparse.SUPPRESS)
    init.add_argument("--test-mode", action="store_true", help=argparse.SUPPRESS)
    init.add_argument("--force", action="store_true")
    cert = sub.add_parser("cert", help="create a self-signed certificate and print its fingerprint")
    cert.add_argument("--host", action="append", default=None)
    cert.add_argument("--force", action="store_true")
    cert.add_argument("--pem", action="store_true", help="also print the certificate (PEM) for the connector")
    check = sub.add_parser("check", help="log on to every configured company and read its structure")
    check.add_argument("--user", default="")
    check.add_argument("--password-stdin", action="store_true")
    sub.add_parser("serve", help="serve in the foreground")
    service = sub.add_parser("service", help="the Windows service")
    service.add_argument("action", choices=["install", "start", "stop", "remove"])
    sub.add_parser("rotate-key", help="replace the API key and print the new one")
    args = parser.parse_args(argv)
    if getattr(args, "host", "unset") is None:
        import socket

        args.host = [socket.gethostname(), "localhost", "127.0.0.1"]
    handlers = {
        "init": _init,
        "cert": _cert,
        "check": _check,
        "serve": _serve,
        "service": _service,
        "rotate-key": _rotate,
    }
    try:
        return handlers[args.command](args)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
