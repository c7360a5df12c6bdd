# Sourced by the bin/ scripts: with LOG_FORMAT=json every line must be a JSON object, so the
# banners Celery prints before logging starts are left out (`celery -q`), and uvicorn's own
# logging takes the JSON formatter from its first line (config/uvicorn-logging-json.json).
case "$(echo "${LOG_FORMAT:-text}" | tr '[:upper:]' '[:lower:]')" in
  json) LOG_JSON=1 ;;
  *) LOG_JSON= ;;
esac
