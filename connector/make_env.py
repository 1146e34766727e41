"""Print a local .env with freshly generated keys (used once by `make demo`)."""

import secrets

from cryptography.fernet import Fernet

if __name__ == "__main__":
    print("# Local settings written by `make demo`. Never commit this file.")
    print("DEBUG=1")
    print(f"SECRET_KEY={secrets.token_urlsafe(50)}")
    print(f"FIELD_ENCRYPTION_KEY={Fernet.generate_key().decode()}")
