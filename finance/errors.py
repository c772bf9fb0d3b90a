"""Domain errors raised by finance services. Views and commands show ``str(error)``."""


class FinanceError(Exception):
    """Base class: a rule of the ledger refused the operation; nothing was written."""


class InvalidAmount(FinanceError):
    pass


class OverApplication(FinanceError):
    pass


class BatchClosed(FinanceError):
    pass


class BatchOutOfBalance(FinanceError):
    pass


class NoCurrentBatch(BatchClosed):
    """No batch was picked and the user has no open current batch to fall back on."""


class InvalidTransition(FinanceError):
    pass


class LedgerMisconfigured(FinanceError):
    """A GL account the rule needs (AR, unapplied cash, cash) is missing."""


class AlreadyReversed(FinanceError):
    pass
