"""A generated customer base: N accounts with two numbers each (contact and SMS), deterministic.

Account ``i`` (0-based) is ``B<i:07d>`` with contact number ``+7 910 <i>`` and SMS number
``+7 950 <i>`` (7-digit subscriber part), so every number is unique, a lookup's expected
holder is known from the number alone, and the same N always gives the same file.

    python -m bench.customers --accounts 1000000 --out var/bench/customers-1m.csv
"""

from __future__ import annotations

import argparse
import csv
import random
from pathlib import Path

_FIRST = ("Ivan", "Maria", "Alexey", "Olga", "Sergey", "Anna", "Dmitry", "Elena", "Pavel", "Irina")
_LAST = ("Petrov", "Sokolov", "Ivanov", "Smirnov", "Kuznetsov", "Popov", "Volkov", "Morozov", "Novikov", "Orlov")
CONTACT_PREFIX = "7910"
SMS_PREFIX = "7950"
MAX_ACCOUNTS = 10_000_000


def account_id(index: int) -> str:
    return f"B{index:07d}"


def holder(index: int) -> str:
    return f"{_FIRST[index % 10]} {_LAST[index // 10 % 10]} {index}"


def contact_number(index: int) -> str:
    return f"+{CONTACT_PREFIX}{index:07d}"


def sms_number(index: int) -> str:
    return f"+{SMS_PREFIX}{index:07d}"


def random_number(rng: random.Random, accounts: int) -> tuple[str, str]:
    """A number of the base as a PBX would give it (national format) and its holder."""
    index = rng.randrange(accounts)
    number = contact_number(index) if rng.random() < 0.5 else sms_number(index)
    return "8" + number[2:], holder(index)


def write_csv(path: Path, accounts: int) -> None:
    if not 0 < accounts <= MAX_ACCOUNTS:
        raise ValueError(f"accounts must be 1..{MAX_ACCOUNTS}")
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "holder", "status", "contact_phone", "sms_phone", "crm_url"])
        for i in range(accounts):
            writer.writerow([account_id(i), holder(i), "active" if i % 7 else "disconnected", contact_number(i),
                             sms_number(i), f"https://crm.example/accounts/{account_id(i)}"])


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.customers", description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    write_csv(args.out, args.accounts)


if __name__ == "__main__":
    main()
