"""CSV -> windows -> LSTM -> metrics. Never imports textual; tensorflow only lazily."""
