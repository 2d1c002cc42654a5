"""Personal data sealed per customer: sealed values bound to their customer, order and
field; the key store that keeps each customer's key (one a customer, however many
starters race; wrapped by the master key, rewrapped when it rotates; refusing in one line
what it cannot use)."""

import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from encryption import Keyring, UnreadableField, key_id_of, new_data_key, open_value, opened_in_json, seal_value
from storage import CustomerKeys, KeyStoreError, open_customer_keys


def test_a_sealed_value_opens_only_as_what_it_was_sealed_for():
    key = new_data_key()
    sealed = seal_value(key, "C-1", "O-1", "email", "someone@example.org")
    assert sealed.startswith(f"sealed:v1:{key.key_id}:") and "someone" not in sealed
    assert key_id_of(sealed) == key.key_id
    known = {key.key_id: key}.get
    assert open_value(sealed, "C-1", "O-1", "email", known) == "someone@example.org"
    assert seal_value(key, "C-1", "O-1", "email", "someone@example.org") != sealed, "a nonce of its own each time"
    for customer, order, field in (("C-2", "O-1", "email"), ("C-1", "O-2", "email"), ("C-1", "O-1", "name")):
        with pytest.raises(UnreadableField, match=f"order '{order}': personal field '{field}' cannot be opened"):
            open_value(sealed, customer, order, field, known)
    altered = sealed[:-4] + ("AAAA" if not sealed.endswith("AAAA") else "BBBB")
    with pytest.raises(UnreadableField) as refused:
        open_value(altered, "C-1", "O-1", "email", known)
    assert "someone" not in str(refused.value)
    with pytest.raises(UnreadableField, match=r"its key \(.*\) is not in the key store"):
        open_value(sealed, "C-1", "O-1", "email", {}.get)


def test_json_payloads_have_their_personal_fields_opened_where_their_order_is_named():
    key = new_data_key()
    sealed = seal_value(key, "C-1", "O-1", "name", "Ada")
    payload = f'{{"data":{{"order_id":"O-1","customer_id":"C-1","personal":{{"name":"{sealed}"}}}}}}'.encode()
    assert b'"name":"Ada"' in opened_in_json(payload, {key.key_id: key}.get)
    assert opened_in_json(payload, {}.get) == payload.replace(b" ", b""), "unopenable: left sealed"
    assert opened_in_json(b'{"plain": 1}', {}.get) == b'{"plain": 1}'


def test_each_customer_gets_one_key_however_many_starters_race(tmp_path):
    place = tmp_path / "customer-keys.sqlite"
    together = threading.Barrier(6)

    def first_orders(_: int) -> dict:
        store = CustomerKeys(place)
        together.wait(timeout=60)
        try:
            return {customer: key.key_id for customer, key in store.keys_for(["C-1", "C-2", "C-3"]).items()}
        finally:
            store.close()

    with ThreadPoolExecutor(6) as pool:
        seen = list(pool.map(first_orders, range(6)))
    assert all(keys == seen[0] for keys in seen) and len(set(seen[0].values())) == 3


def test_the_master_key_wraps_each_data_key_and_a_rotation_rewraps_them(tmp_path):
    place = tmp_path / "customer-keys.sqlite"
    old = Keyring.parse("M1=" + Keyring.new_key())
    store = CustomerKeys(place, old)
    key = store.keys_for(["C-1"])["C-1"]
    store.close()
    with sqlite3.connect(place) as db:
        stored, wrapped_by = db.execute("SELECT data_key, wrapped_by FROM customer_keys").fetchone()
    assert wrapped_by == "M1" and key.secret not in stored

    with pytest.raises(KeyStoreError, match="wrapped by master key 'M1', which ORDERS_MASTER_KEYS does not hold"):
        CustomerKeys(place, Keyring.parse("M2=" + Keyring.new_key())).keys_for(["C-1"])
    rotated = Keyring({"M2": Keyring.parse("M2=" + Keyring.new_key()).keys["M2"], "M1": old.keys["M1"]}, "M2")
    store = CustomerKeys(place, rotated)
    assert store.rewrap() == 1 and store.rewrap() == 0
    store.close()
    only_new = Keyring({"M2": rotated.keys["M2"]}, "M2")
    reader = open_customer_keys(place, only_new)
    assert reader is not None and reader.key_named(key.key_id) == key, "the same data key: nothing re-sealed"
    reader.close()


def test_a_store_that_cannot_be_used_is_refused_in_one_line(tmp_path):
    assert open_customer_keys(tmp_path / "never-made.sqlite", None) is None
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"not a database, not at all" * 100)
    with pytest.raises(KeyStoreError, match="cannot be"):
        CustomerKeys(garbage)
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE customer_keys (who TEXT)")
    with pytest.raises(KeyStoreError, match="a table of another shape"):
        CustomerKeys(other)
    with pytest.raises(KeyStoreError, match="no master key"):
        CustomerKeys(tmp_path / "fresh.sqlite").rewrap()


def test_a_reader_that_cached_a_key_stops_opening_it_once_the_cache_expires(tmp_path, monkeypatch):
    """A worker or codec server asks the store again after KEY_CACHE_SECONDS: a forgotten
    customer's key stops opening within that time, however long the process runs."""
    from storage import customer_keys

    place = tmp_path / "customer-keys.sqlite"
    writer = CustomerKeys(place)
    key = writer.keys_for(["C-1"])["C-1"]
    reader = open_customer_keys(place, None)
    assert reader is not None and reader.key_named(key.key_id) == key
    forgotten = writer.forget("C-1", "dpo", 1)
    assert forgotten is not None and forgotten.key_id == key.key_id
    assert reader.key_named(key.key_id) == key, "cached: within KEY_CACHE_SECONDS it still opens"
    monkeypatch.setattr(customer_keys, "KEY_CACHE_SECONDS", 0.0)
    assert reader.key_named(key.key_id) is None and reader.was_forgotten(key.key_id)
    assert writer.keys_for(["C-1"])["C-1"].key_id != key.key_id, "a new order of theirs: a new key"
    reader.close()
    writer.close()


def test_readers_and_key_commands_meet_a_missing_or_damaged_key_store_in_one_line(tmp_path):
    from connection import load_settings
    from tests.commands import orders_here

    golden = Path(__file__).resolve().parents[1] / "histories" / "golden" / "with-personal-data.json"
    env = {"ORDERS_DATA_DIR": str(tmp_path / "data"), "TEMPORAL_ADDRESS": "192.0.2.1:7233"}
    master = {"ORDERS_MASTER_KEYS": "M1=" + Keyring.new_key()}
    rewrap = orders_here({**env, **master}, "customer-keys", "rewrap")
    assert rewrap.returncode == 1 and "no customer key store" in rewrap.stderr
    assert not (tmp_path / "data").exists(), "none made"
    assert not load_settings(env).has_customer_keys
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"not a key store " * 100)
    read = orders_here({**env, "ORDERS_CUSTOMER_KEYS": str(garbage)}, "events", str(golden), "--json")
    assert read.returncode == 0, read.stderr
    assert read.stderr.strip().splitlines() == [
        f"warning: the customer key store at {garbage} cannot be opened: file is not a database; personal data"
        " shown sealed"
    ]
    assert load_settings({**env, "ORDERS_CUSTOMER_KEYS": str(garbage)}).has_customer_keys
