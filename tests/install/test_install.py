#!/usr/bin/env python3
"""meson install into a DESTDIR installs exactly what a package needs.

Runs the real "meson install --no-rebuild" of the build directory being
tested (MK_BUILD_DIR) into a temporary DESTDIR, then checks:
  - the installed files, relative to the prefix, are exactly EXPECTED;
  - the binaries are in sbin and run (-h prints the usage);
  - the systemd unit names the installed mailkeepd, no @VAR@ is left;
  - the real systemd-sysusers/-tmpfiles, run on the installed files in a
    scratch root, create the accounts and directories (when installed);
  - every key of common/config.c's table is an ".It Cm" entry of
    mailkeep.conf(5), and the man pages pass "mandoc -T lint" when mandoc
    is installed (skipped, and said so, when it is not).
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

SRC = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ["MK_BUILD_DIR"])

DOCS = ["README.md", "architecture.md", "capabilities.md", "configuration.md",
        "deployment.md", "impersonation.md", "lmtp.md", "mailkeepctl.md",
        "migration.md", "pop3.md", "quota.md", "search.md", "security.md",
        "sharing.md", "tls.md"]


def expected(opt):
    """Installed paths relative to the prefix, from the configured dirs."""
    share_doc = opt["datadir"] + "/doc/mailkeep"
    files = {opt["sbindir"] + "/mailkeepd", opt["sbindir"] + "/mailkeepctl",
             opt["mandir"] + "/man8/mailkeepd.8",
             opt["mandir"] + "/man8/mailkeepctl.8",
             opt["mandir"] + "/man5/mailkeep.conf.5",
             # systemd's directories under our prefix (etc/meson.build)
             "lib/systemd/system/mailkeepd.service",
             "lib/sysusers.d/mailkeep.conf",
             "lib/tmpfiles.d/mailkeep.conf",
             share_doc + "/examples/mailkeep.conf"}
    files.update(share_doc + "/" + d for d in DOCS)
    return files


def build_options():
    out = subprocess.run(["meson", "introspect", "--buildoptions", str(BUILD)],
                         check=True, capture_output=True, text=True).stdout
    return {o["name"]: o["value"] for o in json.loads(out)}


def installed(destdir, prefix):
    root = Path(destdir + prefix)
    return {str(p.relative_to(root)) for p in root.rglob("*")
            if p.is_file() or p.is_symlink()}


def config_keys():
    text = (SRC / "common/config.c").read_text()
    table = text[text.index("keys[] = {"):]
    table = table[:table.index("\n};")]
    keys = re.findall(r'(?:STR|PATHK|UINTK|SIZEK|U64K|BOOLK)\("([a-z0-9_]+)"'
                      r'|\{ "([a-z0-9_]+)", K_SPECIAL', table)
    keys = [a or b for a, b in keys]
    if len(keys) < 50:
        sys.exit(f"FAIL: read only {len(keys)} keys from common/config.c")
    return keys


def man_keys(page):
    keys = set()
    for line in page.read_text().splitlines():
        if line.startswith(".It Cm "):
            # ".It Cm a , b , c" and ".It Cm listen Ar addr ..."
            words = line[len(".It Cm "):].split(" Ar ")[0]
            keys.update(w for w in words.replace(",", " ").split())
    return keys


def apply_systemd_files(root, failures):
    """Run the real systemd-sysusers and systemd-tmpfiles on the installed
    files against a scratch root: the accounts mailkeepd's defaults name
    exist with no shell, the instance directory and the login chroot are
    root's with the modes mailkeepctl init and mailkeepd expect."""
    tools = ("systemd-sysusers", "systemd-tmpfiles")
    if not all(shutil.which(t) for t in tools):
        print("skip sysusers.d/tmpfiles.d (systemd tools not installed)")
        return
    with tempfile.TemporaryDirectory(prefix="mk-sysroot-") as sysroot:
        os.mkdir(sysroot + "/etc")
        r1 = subprocess.run(["systemd-sysusers", "--root", sysroot,
                             str(root / "lib/sysusers.d/mailkeep.conf")],
                            capture_output=True, text=True)
        r2 = subprocess.run(["systemd-tmpfiles", "--root", sysroot, "--create",
                             str(root / "lib/tmpfiles.d/mailkeep.conf")],
                            capture_output=True, text=True)
        check(r1.returncode == 0 and r2.returncode == 0,
              "systemd-sysusers and systemd-tmpfiles take the files", failures)
        passwd = Path(sysroot + "/etc/passwd").read_text() \
            if os.path.exists(sysroot + "/etc/passwd") else ""
        defaults = (SRC / "common/config.c").read_text()
        for user in ("mailkeep-login", "mailkeep-auth"):
            line = [l for l in passwd.splitlines() if l.startswith(user + ":")]
            check(f'"{user}"' in defaults and len(line) == 1
                  and line[0].endswith(":/usr/sbin/nologin"),
                  f"sysusers.d creates {user} (config.c's default), no shell",
                  failures)
        for d, mode in (("var/lib/mailkeep", 0o711),
                        ("var/lib/mailkeep/empty", 0o755)):
            st = os.lstat(os.path.join(sysroot, d)) \
                if os.path.isdir(os.path.join(sysroot, d)) else None
            check(st is not None and st.st_uid == 0 and
                  (st.st_mode & 0o7777) == mode,
                  f"tmpfiles.d creates /{d} root's, {mode:o}", failures)


def check(cond, what, failures):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def main():
    opt = build_options()
    prefix = opt["prefix"]
    failures = []
    with tempfile.TemporaryDirectory(prefix="mk-install-") as dest:
        subprocess.run(["meson", "install", "--no-rebuild", "--quiet",
                        "--destdir", dest, "-C", str(BUILD)], check=True,
                       stdout=subprocess.DEVNULL)
        got, want = installed(dest, prefix), expected(opt)
        check(got == want, "installed files are the expected list", failures)
        for p in sorted(got - want):
            print("     unexpected: " + p)
        for p in sorted(want - got):
            print("     missing: " + p)
        root = Path(dest + prefix)
        # mailkeepd -h is a usage error (2); mailkeepctl -h is help (0)
        for b, status in (("mailkeepd", 2), ("mailkeepctl", 0)):
            exe = root / opt["sbindir"] / b
            if not exe.exists():
                continue
            r = subprocess.run([str(exe), "-h"], capture_output=True, text=True)
            check(r.returncode == status and "usage" in (r.stdout + r.stderr),
                  f"installed {b} runs (-h: usage, exit {status})", failures)
        unit = root / "lib/systemd/system/mailkeepd.service"
        if unit.exists():
            u = unit.read_text()
            check(f"ExecStart={prefix}/{opt['sbindir']}/mailkeepd\n" in u,
                  "unit's ExecStart is the installed mailkeepd", failures)
            check(re.search(r"@[A-Z]+@", u) is None,
                  "unit has no unsubstituted @VAR@", failures)
        if not (want - got):
            apply_systemd_files(root, failures)
        conf5 = root / opt["mandir"] / "man5/mailkeep.conf.5"
        if conf5.exists():
            documented = man_keys(conf5)
            missing = [k for k in config_keys() if k not in documented]
            check(not missing, "every config.c key is in mailkeep.conf(5)",
                  failures)
            if missing:
                print("     undocumented: " + " ".join(missing))
        pages = sorted((root / opt["mandir"]).rglob("*.[58]"))
        if shutil.which("mandoc"):
            r = subprocess.run(["mandoc", "-T", "lint", "-W", "warning"]
                               + [str(p) for p in pages],
                               capture_output=True, text=True)
            check(r.returncode == 0, "mandoc -T lint: no warnings", failures)
            sys.stdout.write(r.stdout + r.stderr)
        else:
            print("skip mandoc -T lint (mandoc is not installed)")
    if failures:
        sys.exit(f"{len(failures)} check(s) failed")
    print("all install checks passed")


if __name__ == "__main__":
    main()
