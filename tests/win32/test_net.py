"""Winsock over the sockets driver and the fake internet (winhatch.kernel.io.afd, winhatch.kernel.net).

conf_net_loopback.c (a TCP server and client in one process, select, UDP, names, errors) is checked against
Wine's output by test_conformance. Here: what a program receives from the fake internet, checked against the
capture (the report's `network` and the pcap parsed back), the configuration file, and `--net host` against a
local Python server on 127.0.0.1 (compared with Wine's output where wine64 is installed)."""
import http.server
import json
import os
import shutil
import subprocess
import threading
from pathlib import Path

import dpkt
import pytest
from click.testing import CliRunner

from winhatch import cli, runner
from winhatch.kernel.net import internet as inet
from winhatch.kernel.net.internet import NetConfig, NetConfigError, internet_of

LIBS = ["-lws2_32"]
WINE64 = "/usr/lib/wine/wine64"


def _fake(build_fixture, arch, tmp_path, args=(), cfg=None):
    exe = build_fixture("net_fake.c", arch, libs=LIBS)
    r = runner.run(exe, list(args), net_config=cfg, timeout=120)
    assert r.exit_status == 0, (r.error, r.stdout)
    return r


def test_default_addresses_are_deterministic_and_reserved():
    a = inet.default_address("www.example.com")
    assert a == inet.default_address("WWW.Example.com.")
    assert a.startswith(("198.18.", "198.19.")) and a not in ("198.18.0.0", "198.19.255.255")
    assert inet.default_address("a.example") != inet.default_address("b.example")


def test_fake_internet_http_dns_and_capture(build_fixture, arch, tmp_path):
    r = _fake(build_fixture, arch, tmp_path)
    out = r.stdout.decode()
    www = inet.default_address("www.winhatch-test.example")
    assert f"www.winhatch-test.example -> {www}:80" in out
    assert f"gethostbyname: update.example.net 4 {inet.default_address('update.example.net')}" in out
    assert out.count("status line: HTTP/1.1 200 OK") == 2
    assert out.count("winhatch fake internet") == 2
    assert "hostname: DESKTOP-4N7RQ2K" in out        # the default profile's host name
    assert out.count("local 192.168.1.104\r\n") == 2    # getsockname: the adapter's address (the profile's)
    mail = inet.default_address("mail.example.org")
    assert f"answers 1, last address {mail}" in out and "id 1234" in out
    net = r.report()["network"]
    assert net["mode"] == "fake"
    assert [d["name"] for d in net["dns"]] == ["update.example.net", "www.winhatch-test.example",
                                               "c2.winhatch-test.example", "mail.example.org"]
    assert net["dns"][1]["answers"] == [www]
    hosts = [(c["server"], c["host"]) for c in net["connections"]]
    assert hosts[:2] == [(f"{www}:80", "www.winhatch-test.example"),
                         (f"{inet.default_address('c2.winhatch-test.example')}:80", "c2.winhatch-test.example")]
    get, post = net["http"]
    assert (get["method"], get["path"], get["host"], get["status"]) == ("GET", "/index.html",
                                                                         "www.winhatch-test.example", 200)
    assert ["User-Agent", "net_fake/1.0"] in get["headers"]
    assert (post["method"], post["path"], post["body_preview"], post["body_bytes"]) == ("POST", "/gate.php",
                                                                                      "id=42&x=abc", 11)
    assert net["connections"][0]["sent_preview"].startswith("GET /index.html HTTP/1.1\r\n")
    # the pcap, parsed back: the DNS question and answer, the handshake, the request and the response
    pcap = tmp_path / "net.pcap"
    internet_of(r.machine).capture.write_pcap(pcap)
    with open(pcap, "rb") as fh:
        frames = [dpkt.ethernet.Ethernet(buf) for _ts, buf in dpkt.pcap.Reader(fh)]
    udp = [f.data.data for f in frames if isinstance(f.data.data, dpkt.udp.UDP)]
    answers = [dpkt.dns.DNS(u.data) for u in udp if u.sport == 53]
    assert {a.an[0].name for a in answers} >= {"www.winhatch-test.example", "mail.example.org"}
    tcp = [(f.data, f.data.data) for f in frames if isinstance(f.data.data, dpkt.tcp.TCP)]
    syn = [t for ip, t in tcp if t.flags & dpkt.tcp.TH_SYN and not t.flags & dpkt.tcp.TH_ACK]
    assert len(syn) == 2 and syn[0].dport == 80
    stream = b"".join(t.data for ip, t in tcp if t.sport == 80 and ip.src == bytes(map(int, www.split("."))))
    assert stream.startswith(b"HTTP/1.1 200 OK\r\n") and stream.endswith(b"</html>\n")
    fins = [t for ip, t in tcp if t.flags & dpkt.tcp.TH_FIN]
    assert len(fins) == 4      # both ends of both connections
    # the adapter's address and MAC, the router's MAC (no QEMU 52:54:00 or 10.0.2.x anywhere in the capture)
    out_frames = [f for f in frames if isinstance(f.data, dpkt.ip.IP) and f.data.src == bytes([192, 168, 1, 104])]
    assert out_frames and all(f.src == bytes.fromhex("90E2BA4C7D12") and f.dst == bytes.fromhex("50C7BF3A910E")
                              for f in out_frames)
    assert not any(f.src.startswith(b"\x52\x54\x00") or f.dst.startswith(b"\x52\x54\x00") for f in frames)
    assert not any(bytes(f.data.src[:3]) == bytes([10, 0, 2]) or bytes(f.data.dst[:3]) == bytes([10, 0, 2])
                   for f in frames if isinstance(f.data, dpkt.ip.IP))


def test_configuration_answers_responses_and_banner(build_fixture, arch, tmp_path):
    (tmp_path / "gate.txt").write_bytes(b"cmd=sleep 60\n")
    (tmp_path / "page.html").write_bytes(b"<p>configured default</p>\n")
    conf = tmp_path / "net.toml"
    conf.write_text('[dns]\n"c2.winhatch-test.example" = ["203.0.113.50"]\n'
                    '[http]\ndefault_page = "page.html"\n'
                    '[[http.response]]\nhost = "c2.winhatch-test.example"\npath = "/gate.php"\nfile = "gate.txt"\n'
                    'status = 201\ncontent_type = "text/plain"\n'
                    '[tcp.banners]\n"21" = "220 ftp ready\\r\\n"\n')
    r = _fake(build_fixture, arch, tmp_path, ["21"], NetConfig.load(conf))
    out = r.stdout.decode()
    assert "c2.winhatch-test.example -> 203.0.113.50:80" in out
    assert "status line: HTTP/1.1 201 Created" in out and "body 13: cmd=sleep 60" in out
    assert "body 26: <p>configured default</p>" in out
    assert "banner: 15 220 ftp ready" in out
    net = r.report()["network"]
    ftp = net["connections"][2]
    assert ftp["server"] == "203.0.113.9:21" and ftp["received_preview"] == "220 ftp ready\r\n"
    assert ftp["sent_preview"] == "QUIT\r\n"


def test_bad_configuration_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[dns]\n"x" = ["not-an-address"]\n')
    with pytest.raises(NetConfigError, match="not an IPv4 address"):
        NetConfig.load(bad)
    bad.write_text("[[http.response]]\npath = '/x'\nfile = 'missing.bin'\n")
    with pytest.raises(NetConfigError, match="missing.bin"):
        NetConfig.load(bad)
    r = CliRunner().invoke(cli.main, ["run", "--net-config", str(bad), "x.exe"])
    assert r.exit_code == 2 and "--net-config" in r.output and "Traceback" not in r.output


def test_run_help_explains_the_network_options():
    h = CliRunner().invoke(cli.main, ["run", "--help"]).output
    assert "--net [fake|host]" in h and "--net-config" in h and "--pcap" in h and "198.18.0.0/15" in h


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (the library's name)
        body = b"hello from the host\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


@pytest.fixture
def local_server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv.server_address[1]
    srv.shutdown()
    srv.server_close()


def test_net_host_reaches_a_local_server(build_fixture, arch, local_server):
    exe = build_fixture("net_fake.c", arch, libs=LIBS)
    r = runner.run(exe, ["get", str(local_server)], net="host", timeout=120)
    assert r.exit_status == 0, r.error
    out = r.stdout.decode()
    assert "status line: HTTP/1.0 200 OK" in out and out.endswith("hello from the host\r\n")
    conn = r.report()["network"]["connections"][0]
    assert conn["responder"] == "host" and conn["server"] == f"127.0.0.1:{local_server}"
    assert conn["sent_preview"].startswith("GET /hello.txt HTTP/1.0")
    prefix = Path(__file__).resolve().parents[2] / "build" / "wineprefix"   # tools/record_expected.py's
    if arch == "x64" and Path(WINE64).exists() and prefix.is_dir():
        w = subprocess.run([WINE64, str(exe), "get", str(local_server)], capture_output=True, timeout=120,
                           env=dict(os.environ, WINEDEBUG="-all", WINEPREFIX=str(prefix)))
        assert w.stdout == r.stdout


def test_adapters_and_dnsquery_describe_the_fake_network(build_fixture, arch):
    exe = build_fixture("net_info.c", arch, libs=["-liphlpapi", "-ldnsapi", "-lws2_32"])
    r = runner.run(exe, [], timeout=120)
    assert r.exit_status == 0, r.error
    out = r.stdout.decode().replace("\r\n", "\n")
    assert "GetAdaptersInfo size: 111 1\n" in out          # ERROR_BUFFER_OVERFLOW with the size
    # the default profile's network: a home router's 192.168.1.0/24 (never QEMU's 10.0.2.x)
    assert "type 6 dhcp 1 ip 192.168.1.104/255.255.255.0 gw 192.168.1.1 mac 90-e2-ba-4c-7d-12 index 7" in out
    assert "GetNetworkParams: 0 host DESKTOP-4N7RQ2K dns 192.168.1.1\n" in out
    assert "GetBestInterface: 0 7 loopback 0 1\n" in out
    assert (f"  7 {{8F2C6A4B-3E17-4B9D-A5C2-1D7E90B3F468}} 'Ethernet' 'Intel(R) Ethernet Connection (7) I219-LM' type 6 "
            "mtu 1500 status 1 ip 192.168.1.104/24 dns 192.168.1.1 gw 192.168.1.1\n") in out
    assert "'Loopback Pseudo-Interface 1' 'Software Loopback Interface 1' type 24" in out
    assert "GetIpAddrTable size: 122 52\n" in out           # ERROR_INSUFFICIENT_BUFFER, 4 + 2 rows of 24
    assert ("GetIpAddrTable: 0 2\n  addr 127.0.0.1 mask 255.0.0.0 if 1 bcast 1\n"
            "  addr 192.168.1.104 mask 255.255.255.0 if 7 bcast 1\n") in out
    assert "GetIpForwardTable size: 122 1\n" in out
    routes = out.split("GetIpForwardTable: 0 11\n")[1].split("DnsQuery")[0]
    assert routes.splitlines()[0] == "  route 0.0.0.0 mask 0.0.0.0 via 192.168.1.1 if 7 type 4 proto 3 metric 25"
    assert "  route 192.168.1.0 mask 255.255.255.0 via 192.168.1.104 if 7 type 3 proto 2 metric 281\n" in routes
    assert "  route 192.168.1.255 mask 255.255.255.255 via 192.168.1.104 if 7 type 3 proto 2 metric 281\n" in routes
    assert "  route 127.0.0.0 mask 255.0.0.0 via 127.0.0.1 if 1 type 3 proto 2 metric 331\n" in routes
    addr = inet.default_address("files.winhatch-test.example")
    assert f"DnsQuery_A: 0 files.winhatch-test.example type 1 len 4 ttl 300 section 1 {addr}\n" in out
    assert "DnsQuery_W MX: 9501 " in out                   # DNS_INFO_NO_RECORDS
    dns = r.report()["network"]["dns"]
    assert [(d["name"], d["type"]) for d in dns] == [("files.winhatch-test.example", "A"),
                                                     ("mx.winhatch-test.example", "MX")]


def test_winsock_get_then_wininet_get_200_and_the_report_names_both(build_fixture, arch):
    """The issue's criterion: resolve, connect and GET with Winsock, then fetch a URL with WinINet: 200 from the
    default fake internet, and the report names both hosts and both requests."""
    exe = build_fixture("net_wininet.c", arch, libs=["-lwininet", "-lws2_32"])
    r = runner.run(exe, [], timeout=120)
    assert r.exit_status == 0, r.error
    out = r.stdout.decode().replace("\r\n", "\n")
    assert "winsock: HTTP/1.1 200 OK\n" in out
    assert "status: 1 200 len 4\n" in out and "content type: 1 text/html len 9\n" in out
    assert "raw headers small: 0 122 need 1\n" in out and "no location: 0 12150\n" in out
    assert "GET body 108: <!DOCTYPE html>" in out and "POST body 108:" in out and "status text: 1 200 len 3" in out
    assert ("InternetCrackUrl: 1 scheme 4 https host cdn.winhatch-test.example 25 port 8443 path /a/b.bin 8 "
            "extra ?x=1#f\n") in out
    net = r.report()["network"]
    hosts = {c["host"] for c in net["connections"]}
    assert {"beacon.winhatch-test.example", "download.winhatch-test.example", "api.winhatch-test.example"} <= hosts
    reqs = [(h["host"], h["method"], h["path"], h["status"]) for h in net["http"]]
    assert reqs == [("beacon.winhatch-test.example", "GET", "/winsock", 200),
                    ("download.winhatch-test.example", "GET", "/files/setup.exe?v=3", 200),
                    ("api.winhatch-test.example", "POST", "/v1/report", 200)]
    post = net["http"][2]
    assert post["body_preview"] == "host=victim&user=alice"
    assert ["X-Id", "7"] in post["headers"] and ["User-Agent", "wininet-fixture/2.0"] in post["headers"]
    assert ["Accept", "text/*"] in post["headers"]
    from winhatch.report.html import render_html
    page = render_html(r.report())
    assert '<section id="network">' in page and "beacon.winhatch-test.example" in page and "/v1/report" in page
    # the behaviour summary at the top names them too
    b = r.report()["behaviour"]["network"]
    assert {"beacon.winhatch-test.example", "download.winhatch-test.example"} <= set(b["dns"])
    assert "POST api.winhatch-test.example/v1/report -> 200" in b["http"]
    assert page.index("HTTP request") < page.index('<section id="network">')


def test_winhttp_post_over_https_and_urldownloadtofile(build_fixture, arch, tmp_path):
    exe = tmp_path / "net_winhttp.exe"      # the download lands next to it (C:\app)
    shutil.copy(build_fixture("net_winhttp.c", arch, libs=["-lwinhttp", "-lurlmon"]), exe)
    cfg = tmp_path / "net.toml"
    (tmp_path / "payload.src").write_bytes(b"MZ fake payload\n")
    cfg.write_text('[[http.response]]\nhost = "files.winhatch-test.example"\npath = "/payload.bin"\n'
                   'file = "payload.src"\n')
    r = runner.run(exe, [], net_config=NetConfig.load(cfg), timeout=120, out_dir=tmp_path / "out")
    assert r.exit_status == 0, r.error
    out = r.stdout.decode().replace("\r\n", "\n")
    assert out == ("handles: 1 1 1\nsend: 1\nreceive: 1\nstatus: 1 200\nserver: 1 winhatch 16\n"
                   "data: 108 108 <!DOCTYPE html>\nURLDownloadToFile: 00000000\nfile: 16 MZ fake payload\n"
                   "cache: 00000000 in INetCache 16 MZ fake payload\nsmall buffer: 8007000e\n")
    # the download landed in C:\app's copy-on-write layer: the host folder is unchanged, dropped/ has it
    assert not (tmp_path / "payload.bin").exists()
    assert (tmp_path / "out" / "dropped" / "C" / "app" / "payload.bin").read_bytes() == b"MZ fake payload\n"
    [dl] = [f for f in r.dropped["files"] if f["path"] == "C:\\app\\payload.bin"]
    assert (dl["state"], dl["size"], dl["kept"]) == ("created", 16, "C/app/payload.bin")
    net = r.report()["network"]
    post, get, cache1, cache2 = net["http"]       # the two URLDownloadToCacheFile calls each fetch it
    assert [(h["host"], h["path"]) for h in (cache1, cache2)] == [("files.winhatch-test.example", "/payload.bin")] * 2
    assert (post["host"], post["method"], post["path"], post["server"].endswith(":443")) == \
        ("telemetry.winhatch-test.example", "POST", "/collect", True)
    assert post["body_preview"] == '{"id":1}' and ["User-Agent", "winhttp-fixture/1.0"] in post["headers"]
    assert (get["host"], get["path"], get["response_bytes"]) == ("files.winhatch-test.example", "/payload.bin", 16)


def test_cli_writes_the_pcap_and_the_report(build_fixture, tmp_path):
    exe = str(build_fixture("net_fake.c", "x64", libs=LIBS))
    pcap, report = tmp_path / "out.pcap", tmp_path / "r.json"
    r = CliRunner().invoke(cli.main, ["run", "--pcap", str(pcap), "--report", str(report), exe])
    assert r.exit_code == 0, r.output
    with open(pcap, "rb") as fh:
        frames = list(dpkt.pcap.Reader(fh))
    doc = json.loads(report.read_text())
    assert len(frames) == doc["network"]["packets"] > 20
    assert doc["network"]["http"][0]["path"] == "/index.html"


def test_no_qemu_address_is_visible_by_default(build_fixture, arch, tmp_path):
    """QEMU's user network (10.0.2.15, gateway 10.0.2.2, DNS 10.0.2.3) is a well-known sandbox tell: by default
    the guest is on a home router's 192.168.1.0/24. Nothing the guest can read names a 10.0.2.x address: the
    iphlpapi tables, the DNS answers, the sockets' own addresses, the registry, the report — and no module of
    winhatch still holds one."""
    exe = build_fixture("net_info.c", arch, libs=["-liphlpapi", "-ldnsapi", "-lws2_32"])
    r = runner.run(exe, [], timeout=120, out_dir=tmp_path / "out")
    assert r.exit_status == 0, r.error
    out = r.stdout.decode()
    assert "192.168.1.104" in out and "10.0.2." not in out
    import json
    assert "10.0.2." not in json.dumps(r.report())
    from winhatch.kernel.profile import Profile, registry_description
    assert "10.0.2." not in json.dumps(registry_description(Profile.default()))
    assert registry_description(Profile.default())["keys"][
        "HKLM\\SYSTEM\\ControlSet001\\Services\\Tcpip\\Parameters\\Interfaces\\"
        "{8f2c6a4b-3e17-4b9d-a5c2-1d7e90b3f468}"]["values"]["DhcpIPAddress"]["data"] == "192.168.1.104"
    pkg = Path(__file__).resolve().parents[2] / "winhatch"
    import re
    holders = [str(p) for p in pkg.rglob("*.py") if re.search(r"\b10\.0\.2\.\d", p.read_text(encoding="utf-8"))]
    assert not holders, holders


def test_profile_network_section_is_the_one_source(build_fixture, arch, tmp_path):
    """[network] ip/netmask/gateway/dns: GetAdaptersInfo, GetAdaptersAddresses, GetNetworkParams, the route
    table, getsockname after a connect (net_fake's TCP client) and the report all follow the profile."""
    from winhatch.kernel.profile import Profile, ProfileError
    prof = Profile.from_dict({"network": {"ip": "172.16.40.23", "netmask": "255.255.240.0",
                                          "gateway": "172.16.32.1", "dns": "172.16.32.10"}})
    exe = build_fixture("net_info.c", arch, libs=["-liphlpapi", "-ldnsapi", "-lws2_32"])
    r = runner.run(exe, [], timeout=120, profile=prof)
    assert r.exit_status == 0, r.error
    out = r.stdout.decode().replace("\r\n", "\n")
    assert "ip 172.16.40.23/255.255.240.0 gw 172.16.32.1 mac" in out
    assert "GetNetworkParams: 0 host DESKTOP-4N7RQ2K dns 172.16.32.10\n" in out
    assert "ip 172.16.40.23/20 dns 172.16.32.10 gw 172.16.32.1\n" in out
    assert "  route 172.16.32.0 mask 255.255.240.0 via 172.16.40.23 if 7 type 3 proto 2 metric 281\n" in out
    assert "  route 172.16.47.255 mask 255.255.255.255 via 172.16.40.23 if 7" in out
    assert r.report()["network"]["adapter"] == {"address": "172.16.40.23", "netmask": "255.255.240.0",
                                                "gateway": "172.16.32.1", "dns_server": "172.16.32.10"}
    exe = build_fixture("net_fake.c", arch, libs=LIBS)
    r = runner.run(exe, [], timeout=120, profile=prof)
    assert r.exit_status == 0, r.error
    assert "local 172.16.40.23\n" in r.stdout.decode().replace("\r\n", "\n")   # getsockname after connect
    assert r.report()["network"]["connections"][0]["client"].startswith("172.16.40.23:")
    for bad, msg in (({"ip": "10.1.2.300"}, "ip: expected an IPv4 address"),
                     ({"netmask": "255.0.255.0"}, "netmask"),
                     ({"gateway": "10.9.9.9"}, "gateway: 10.9.9.9 is not another host"),
                     ({"ip": "192.168.1.255"}, "ip: 192.168.1.255 is not a host address"),
                     ({"dns": "127.0.0.1"}, "dns: 127.0.0.1 cannot be a server"),
                     ({"dnz": "1.1.1.1"}, "unknown key 'dnz'")):
        with pytest.raises(ProfileError, match=msg):
            Profile.from_dict({"network": bad})
