"""The sandbox's test tokens and what each one does (documented in README.md)."""

from dataclasses import dataclass

CARD = "card"
BANK = "us_bank_account"


@dataclass(frozen=True)
class TokenBehaviour:
    payment_method_type: str
    # Status returned when the charge is created.
    initial: str
    # Status the charge reaches when it settles (on a read after the settle delay, or at
    # once on an "advance" call); None when it does not change.
    settles_to: str | None = None
    # Set on a declined charge (initial "failed") or one that fails when it settles.
    failure_code: str = ""
    failure_message: str = ""
    # A succeeded charge that the payer later disputes (when it "settles").
    disputes: bool = False
    # The server records the charge, then answers too late for the client.
    delays_response: bool = False
    # The server answers 500 and records nothing.
    server_error: bool = False
    # Settles only on an "advance" call (the customer must act), never by time.
    settles_on_advance_only: bool = False


TOKENS: dict[str, TokenBehaviour] = {
    "tok_visa": TokenBehaviour(CARD, "succeeded"),
    "tok_mastercard": TokenBehaviour(CARD, "succeeded"),
    "tok_visa_declined": TokenBehaviour(
        CARD, "failed", failure_code="card_declined", failure_message="Your card was declined."
    ),
    "tok_insufficient_funds": TokenBehaviour(
        CARD, "failed", failure_code="insufficient_funds", failure_message="Your card has insufficient funds."
    ),
    "tok_processing": TokenBehaviour(CARD, "processing", settles_to="succeeded"),
    "tok_fail_later": TokenBehaviour(
        CARD,
        "processing",
        settles_to="failed",
        failure_code="processing_error",
        failure_message="The payment failed after it was accepted for processing.",
    ),
    "tok_timeout": TokenBehaviour(CARD, "succeeded", delays_response=True),
    "tok_dispute": TokenBehaviour(CARD, "succeeded", disputes=True),
    "tok_requires_action": TokenBehaviour(
        CARD, "requires_action", settles_to="succeeded", settles_on_advance_only=True
    ),
    "tok_server_error": TokenBehaviour(CARD, "failed", server_error=True),
    "btok_ach_success": TokenBehaviour(BANK, "processing", settles_to="succeeded"),
    "btok_ach_timeout": TokenBehaviour(BANK, "processing", settles_to="succeeded", delays_response=True),
    "btok_ach_fail": TokenBehaviour(
        BANK,
        "processing",
        settles_to="failed",
        failure_code="insufficient_funds",
        failure_message="The bank returned the debit: insufficient funds (R01).",
    ),
}
