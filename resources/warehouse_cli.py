"""Look at the warehouse from a shell, read-only, on the published snapshot.

    vibescope tables                                  (python -m resources.warehouse_cli summary)
    vibescope sql "SELECT * FROM core.llm_call_stats" (python -m resources.warehouse_cli sql ...)
"""

import argparse
import warnings

from resources.settings import load_settings
from resources.reader import ReadOnlyError, open_reader, readonly_query, table_overview, where_readers_read


def main(argv: list[str] | None = None) -> None:
    warnings.filterwarnings("ignore", message="The inplace keyword")  # raised inside duckdb's .df()
    parser = argparse.ArgumentParser(prog="python -m resources.warehouse_cli")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("summary", help="tables in the snapshot: layer, row count, materialization time")
    sql = sub.add_parser("sql", help="run one read-only query on the snapshot")
    sql.add_argument("query")
    args = parser.parse_args(argv)
    settings = load_settings()
    try:
        con = open_reader(settings, settings.reader_directories())
    except (FileNotFoundError, RuntimeError) as exc:
        raise SystemExit(str(exc)) from None
    with con:
        if args.command == "summary":
            frame = table_overview(con)
            frame.insert(0, "table_name", frame.pop("schema") + "." + frame.pop("table"))
            print(frame.drop(columns="run_id").to_string(index=False))
            print(f"\nwarehouse: {where_readers_read(settings)}\nreports: {settings.path('reports')}\n"
                  "Dagster UI: make ui    app: make app    SQL: vibescope sql '...'\n"
                  "all of it in one file that opens offline: vibescope report --html reports/vibescope.html")
        else:
            try:
                result = readonly_query(con, args.query, settings.readers.max_rows, settings.readers.timeout_s)
            except ReadOnlyError as exc:
                raise SystemExit(f"refused: {exc}") from None
            print(result.frame.to_string(index=False))
            if result.truncated:
                print(f"({len(result.frame):,} of {result.total_rows:,} rows shown: [readers] max_rows)")


if __name__ == "__main__":
    main()
