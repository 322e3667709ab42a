import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from foliosync.db.session import session_scope
from foliosync.models import AccountCredential, BrokerAccount, User
from foliosync.vault.store import open_credentials, rotate_all, save_credentials
from foliosync.vault.vault import CredentialVault, VaultError, derive_development_key, vault_from_settings
from tests.support.api import make_settings

OLD = Fernet.generate_key()
NEW = Fernet.generate_key()


def _accounts(engine, n, vault):
    with session_scope(engine) as session:
        user = User(email="v@example.com", password_hash="x")
        session.add(user)
        session.flush()
        for i in range(n):
            account = BrokerAccount(user_id=user.id, broker="ibkr", external_account_id=f"U{i}", alias="a")
            session.add(account)
            session.flush()
            save_credentials(
                session, vault, account.id, {"flex_token": f"token-{i}", "flex_query_id": str(i)}
            )


def test_rotation_re_encrypts_under_the_new_key_and_old_key_alone_no_longer_reads(engine):
    _accounts(engine, 5, CredentialVault([OLD]))
    both = CredentialVault([NEW, OLD])
    result = rotate_all(engine, both, batch_size=2)
    assert (result.rotated, result.remaining) == (5, 0)
    only_new = CredentialVault([NEW])
    with session_scope(engine) as session:
        rows = session.scalars(select(AccountCredential).order_by(AccountCredential.id)).all()
        assert {r.key_id for r in rows} == {only_new.current_key_id}
        for i, row in enumerate(rows):
            assert b"token-" not in row.ciphertext
            assert only_new.decrypt(row.ciphertext)["flex_token"] == f"token-{i}"
            with pytest.raises(VaultError, match="cannot be decrypted"):
                CredentialVault([OLD]).decrypt(row.ciphertext)


def test_interrupted_rotation_resumes_where_it_stopped(engine):
    _accounts(engine, 5, CredentialVault([OLD]))
    both = CredentialVault([NEW, OLD])

    def stop_after_first_batch(done):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        rotate_all(engine, both, batch_size=2, on_batch=stop_after_first_batch)
    with session_scope(engine) as session:
        ids = [r.key_id for r in session.scalars(select(AccountCredential))]
        assert ids.count(both.current_key_id) == 2
    result = rotate_all(engine, both, batch_size=2)
    assert (result.rotated, result.remaining) == (3, 0)
    with session_scope(engine) as session:
        assert open_credentials(session, CredentialVault([NEW]), 1)["flex_query_id"] == "0"


def test_comma_separated_keys_first_encrypts(engine):
    settings = make_settings("sqlite://", encryption_key=f"{NEW.decode()},{OLD.decode()}")
    vault = vault_from_settings(settings)
    ciphertext, kid = vault.encrypt({"a": "b"})
    assert kid == CredentialVault([NEW]).current_key_id
    assert CredentialVault([NEW]).decrypt(ciphertext) == {"a": "b"}


def test_development_mode_derives_a_key_with_a_loud_warning(caplog):
    settings = make_settings("sqlite://", encryption_key=None)
    vault = vault_from_settings(settings)
    assert "development only" in caplog.text
    assert (
        vault.current_key_id
        == CredentialVault([derive_development_key(settings.secret_key.get_secret_value())]).current_key_id
    )
    assert "secret" not in repr(vault)


def test_production_without_a_key_refuses():
    settings = make_settings("sqlite://", encryption_key=None, environment="production")
    with pytest.raises(VaultError, match="required in production"):
        vault_from_settings(settings)


def test_a_bad_key_says_how_to_make_one():
    with pytest.raises(VaultError) as info:
        CredentialVault([b"not-a-key"])
    assert "Fernet.generate_key" in str(info.value)
