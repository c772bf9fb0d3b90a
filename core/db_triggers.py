"""The database triggers of the product, declared as code with django-pgtrigger.

Every trigger that keeps a guarantee of the ledger (journal entries balance, posted
journal and batches are immutable, kept balances, membership dates, the audit trail
refuses changes, the audit trail is written) is a :class:`Trigger` in the
``Meta.triggers`` of the model whose table it fires on (or of a proxy of it, in the app
whose rows the trigger keeps). ``makemigrations`` writes the migration that installs it (pgtrigger's
``AddTrigger`` / ``RemoveTrigger``, with the compiled SQL in the migration), and
``python manage.py pgtrigger ls`` tells whether the database has what the code declares
(INSTALLED, or OUTDATED / UNINSTALLED). The function body (``func``) is plain PL/pgSQL
between ``BEGIN`` and ``END``; ``declare`` lists its variables.

:class:`Trigger` is pgtrigger's ``Trigger`` with three differences, each kept because
the hand-written triggers it replaced had them:

- **Its name in PostgreSQL is the declared name** (pgtrigger's own is
  ``pgtrigger_<name>_<hash>``), and so is its function's. ``SET CONSTRAINTS
  journal_entry_balanced IMMEDIATE``, the order in which PostgreSQL fires the triggers of
  one table and event (by name), and the function named in an error's context stay as
  they were. Names are therefore unique across the schema and lower case. (pgtrigger's
  ``prune`` looks only for triggers named ``pgtrigger_*``: that no other trigger is
  left on the tables is checked by ``tests/finance/test_triggers_as_code.py``.)
- **Its function runs with a search_path of its own**: the schema the function is
  created in (where the migrations create the tables), then ``pg_temp`` (last: a
  temporary table cannot stand in for a ledger table). The bodies name their tables
  without a schema and must find them whatever the caller's search_path; pg_dump and
  pg_restore scripts run with an empty one. pgtrigger writes ``CREATE OR REPLACE
  FUNCTION`` without a ``SET`` clause (which would drop a setting made earlier), so the
  installation SQL sets it right after, in the same transaction, as migration finance
  0023 did for the hand-written functions.
- **It has no off switch**: pgtrigger's functions first ask
  ``_pgtrigger_should_ignore(TG_NAME)``, which reads a setting (``pgtrigger.ignore``)
  that any session may set, so any database user could switch a guarantee off for its
  own statements. These functions always run their body; as before, only a superuser's
  ``session_replication_role = replica`` skips triggers (bulk loads; ``verify_ledger``
  checks what they wrote).
"""

import pgtrigger
from pgtrigger import compiler


class TriggerSql(compiler.UpsertTriggerSql):
    """The installation SQL of a :class:`Trigger`.

    Migrations store this class's path with the compiled trigger, and pgtrigger's
    installation status compares a hash of this template: do not edit the template. A
    different one needs a new class beside this one (the migrations written with this
    one keep installing what they installed).
    """

    def get_template(self) -> str:
        return """
            CREATE OR REPLACE FUNCTION {pgid}()
            RETURNS TRIGGER AS $$
                {declare}
                BEGIN
                    {func}
                END;
            $$ LANGUAGE plpgsql;

            DO $search_path$ BEGIN
                EXECUTE pg_catalog.format(
                    'ALTER FUNCTION %I.%I() SET search_path = %I, pg_temp',
                    pg_catalog.current_schema(), '{pgid}', pg_catalog.current_schema()
                );
            END $search_path$;

            DROP TRIGGER IF EXISTS {pgid} ON {table};
            CREATE {constraint} TRIGGER {pgid}
                {when} {operation} ON {table}
                {timing}
                {referencing}
                FOR EACH {level} {condition}
                EXECUTE PROCEDURE {execute};

            COMMENT ON TRIGGER {pgid} ON {table} IS '{hash}';
        """


class Trigger(pgtrigger.Trigger):
    """A pgtrigger trigger named as declared, whose function sets its search_path and
    cannot be switched off by a session (see the module docstring)."""

    def validate_name(self) -> None:
        super().validate_name()
        if self.name != self.name.lower():
            raise ValueError(f'Trigger name "{self.name}" must be lower case (PostgreSQL folds names)')

    def get_pgid(self, model) -> str:
        return self.name

    def compile(self, model) -> compiler.Trigger:
        compiled = super().compile(model)
        return compiler.Trigger(name=compiled.name, sql=TriggerSql(**compiled.sql.kwargs))


def set_search_path(function: str) -> str:
    """SQL that makes ``function`` (``name(argument types)``, in the current schema) run
    with the search_path of the trigger functions: that schema, then pg_temp. For the
    functions the migrations write by hand (``TriggerSql`` does the same for its own)."""
    name, args = function.split("(", 1)
    return f"""
DO $search_path$ BEGIN
    EXECUTE pg_catalog.format(
        'ALTER FUNCTION %I.%I({args} SET search_path = %I, pg_temp',
        pg_catalog.current_schema(), '{name}', pg_catalog.current_schema()
    );
END $search_path$;
"""
