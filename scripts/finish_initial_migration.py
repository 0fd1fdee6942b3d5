"""Append the steps autogenerate cannot see (audit triggers, the chain head row) to the initial migration.

While the platform is pre-production the initial migration is regenerated from the models
(`make migration`), and this script re-adds these steps; after the first production
deployment every change gets its own revision instead.
"""
import pathlib
import re
import sys

MARK = "# -- onecard: steps autogenerate cannot see --"
STEPS = f"""
    {MARK}
    from onecard.audit import GENESIS, install_append_only
    bind = op.get_bind()
    install_append_only(bind, bind.dialect.name)
    op.execute(sa.text(f"INSERT INTO audit_head (id, last_seq, last_hash) VALUES (1, 0, '{{GENESIS}}')"))
"""

path = pathlib.Path(sys.argv[1])
text = path.read_text()
if MARK not in text:
    text = re.sub(r"(def upgrade\(\):.*?)(\n\ndef downgrade)", lambda m: m.group(1).rstrip() + "\n" + STEPS + m.group(2),
                  text, count=1, flags=re.S)
    path.write_text(text)
print(f"finished {path}")
