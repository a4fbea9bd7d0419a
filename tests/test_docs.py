"""Issue 7, point 8: what the help texts and the documentation promise is
what the programs do: each option once in --help, and the unit suffixes of
max_message, retention_bytes and ttl exactly those the daemon accepts."""
import re
import string
import subprocess

from util import BUILD, DAEMON, PFX, REPO, run

def letters(text):
    """The single letters a passage lists, as `k`, ``k``, Nk or a bare k."""
    return set(re.findall(r"(?<![A-Za-z])([a-z])(?![A-Za-z])", text))


def between(text, start, end):
    i = text.index(start) + len(start)
    return text[i:text.index(end, i)]


def documented():
    """{source: (size suffixes, time suffixes)} from every place that lists
    them."""
    out = {}
    design = (REPO / "docs" / "design.md").read_text()
    rows = {m.group(1): m.group(2) for m in re.finditer(
        r"^\| `user\.streamfs\.(\w+)` \|(.*)$", design, re.M)}
    out["design.md"] = (set(re.findall(r"`([a-z])`", rows["max_message"])),
                        set(re.findall(r"`N([a-z])`", rows["ttl"])))
    assert "like `max_message`" in rows["retention_bytes"]
    man = (REPO / "docs" / "streamfs.1.rst").read_text()

    def para(name):
        return between(man, "``user.streamfs.%s`` (stream)\n" % name, "\n\n")
    out["streamfs.1"] = (set(re.findall(r"``([a-z])``", para("max_message"))),
                         set(re.findall(r"``([a-z])``", para("ttl"))))
    assert "as for ``max_message``" in para("retention_bytes")
    ctl = (REPO / "docs" / "streamctl.1.rst").read_text()
    sentence = between(ctl, "*BYTES* may end in", "Values are printed")
    size, secs = sentence.split("*SECONDS*")
    out["streamctl.1"] = (set(re.findall(r"``([a-z])``", size)),
                          set(re.findall(r"``([a-z])``", secs)))
    helptext = run([BUILD / "tools" / "streamctl", "policy", "--help"]).stdout
    out["streamctl policy --help"] = (
        letters(between(helptext, "BYTES may end in", "(")),
        letters(between(helptext, "SECONDS in", "(")))
    return out


def accepted(mnt, name):
    """The suffix letters setfattr gets the daemon to take for policy name,
    after lower and upper case alike."""
    ok = set()
    for c in string.ascii_letters:
        r = subprocess.run(["setfattr", "-n", PFX + name, "-v", "1" + c,
                            mnt], capture_output=True, text=True)
        if r.returncode == 0:
            ok.add(c)
        else:
            assert "Invalid argument" in r.stderr, r.stderr
    lower = {c for c in ok if c.islower()}
    assert {c.upper() for c in lower} == ok - lower, \
        "%s: suffixes not in either case: %s" % (name, sorted(ok))
    return lower


def test_documented_suffixes_are_the_accepted_ones(mount):
    docs = documented()
    size, secs = docs["design.md"]
    assert size and secs
    for where, (s, t) in docs.items():
        assert (s, t) == (size, secs), "%s lists %s and %s, design.md %s " \
            "and %s" % (where, sorted(s), sorted(t), sorted(size),
                        sorted(secs))
    assert accepted(mount.mnt, "retention_bytes") == size
    assert accepted(mount.mnt, "ttl") == secs
    # max_message parses the same way, but 1g and 1t are above its 64 MiB.
    assert accepted(mount.mnt, "max_message") == size & {"k", "m"}


def option_lines(text):
    """The options each help line introduces, e.g. ['-o allow_other']."""
    found = []
    for line in text.splitlines():
        m = re.match(r"\s+((?:-o \S+|-\S+)(?:\s{1,3}(?:-o \S+|--?\S+))*)"
                     r"(\s{2,}|$)", line)
        if m:
            found += re.findall(r"-o \S+|--?[^\s,]+", m.group(1))
    return found


def test_help_lists_each_option_once():
    r = run([DAEMON, "--help"])
    opts = option_lines(r.stdout + r.stderr)
    assert "-o allow_other" in opts and "-o reserve=BYTES" in opts, opts
    dups = sorted({o for o in opts if opts.count(o) > 1})
    assert not dups, "listed more than once: %s" % dups
