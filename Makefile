# Rideshare — build, test, run.
#
#   make            build every binary into build/bin
#   make asan       the same with AddressSanitizer + UBSan into build/asan/bin
#   make deps       install the Debian packages needed (root), or say which
#   make test       everything: unit (plain + sanitizers), fuzz, integration
#   make test-unit  the fast part alone
#   make run        RabbitMQ, ZooKeeper, orchestrator and workers on this host
#   make bench      the benchmarks of bench/ (not part of make test; bench/scale.py seeds a
#                   million users: about ten minutes)
#   make soak       1,000,000 writes: bounded disk and memory, recovery time (bench/soak.py)
#   make up         the whole stack in containers (docker-compose.yml), gateway on :8080
#   make down       stop it and remove everything of it, workers included
#   make logs       follow its logs;  make ps  its containers
#   make console    the admin console (rideshare-console): against the make run of this checkout
#                   while one is up, else against the make up stack (CONSOLE_STACK=run|up chooses)
#   make backup     a backup of the running stack's data into backups/
#   make restore FILE=...   the running stack's data becomes that backup's

CC      ?= cc
BUILD   ?= build
SAN     ?=
OPT     ?= -O2
PKGS    := libmicrohttpd librabbitmq sqlite3 libcjson libcurl
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

# snprintf truncation is always deliberate here (bounded buffers); gcc's guesses at it are noise.
CFLAGS  += -std=c11 -Wall -Wextra -Werror -Wno-format-truncation $(OPT) -g -D_GNU_SOURCE -DTHREADED \
           -Icommon $(PKG_CFLAGS) $(SAN) -MMD -MP
LDFLAGS += $(SAN)
LDLIBS  += $(PKG_LIBS) -lzookeeper_mt -lpthread -lm

COMMON_SRC := $(wildcard common/*.c)
WORKER_SRC := $(filter-out services/worker/main.c,$(wildcard services/worker/*.c))
ORCH_SRC   := $(filter-out services/orchestrator/main.c,$(wildcard services/orchestrator/*.c))
USERS_SRC  := $(filter-out services/users/main.c,$(wildcard services/users/*.c))
RIDES_SRC  := $(filter-out services/rides/main.c,$(wildcard services/rides/*.c))
CONSOLE_SRC := $(filter-out console/main.c,$(wildcard console/*.c))
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
ITEST_SRC  := $(wildcard tests/integration/*.c)
HELPER_SRC := $(wildcard tests/helpers/*.c)
BENCH_SRC  := $(wildcard bench/*.c)

obj = $(patsubst %.c,$(BUILD)/%.o,$(1))

LIBCOMMON := $(BUILD)/libcommon.a
LIBWORKER := $(BUILD)/libworker.a
LIBORCH   := $(BUILD)/liborchestrator.a
LIBUSERS  := $(BUILD)/libusers.a
LIBRIDES  := $(BUILD)/librides.a
LIBCONSOLE := $(BUILD)/libconsole.a

# The console's screen: ncurses (wide-character build).
NCURSES_CFLAGS := $(shell pkg-config --cflags ncursesw 2>/dev/null)
NCURSES_LIBS   := $(or $(shell pkg-config --libs ncursesw 2>/dev/null),-lncursesw)
$(BUILD)/console/%.o: CFLAGS += $(NCURSES_CFLAGS)

BINS  := $(BUILD)/bin/rideshare-orchestrator $(BUILD)/bin/rideshare-worker \
         $(if $(wildcard services/users/main.c),$(BUILD)/bin/rideshare-users) \
         $(if $(wildcard services/rides/main.c),$(BUILD)/bin/rideshare-rides) \
         $(BUILD)/bin/rideshare-console
UNITS := $(patsubst tests/unit/%.c,$(BUILD)/tests/unit/%,$(UNIT_SRC))
ITESTS := $(patsubst tests/integration/%.c,$(BUILD)/tests/integration/%,$(ITEST_SRC))
HELPERS := $(patsubst tests/helpers/%.c,$(BUILD)/tests/helpers/%,$(HELPER_SRC))
BENCHES := $(patsubst bench/%.c,$(BUILD)/bench/%,$(BENCH_SRC))

.PHONY: all asan deps test test-unit run bench soak clean fuzz up down logs ps console backup restore
all: $(BINS) $(UNITS) $(ITESTS) $(HELPERS) $(BENCHES)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(LIBCOMMON): $(call obj,$(COMMON_SRC))
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^
$(LIBWORKER): $(call obj,$(WORKER_SRC))
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^
$(LIBORCH): $(call obj,$(ORCH_SRC))
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^
$(LIBUSERS): $(call obj,$(USERS_SRC))
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^
$(LIBRIDES): $(call obj,$(RIDES_SRC))
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^
$(LIBCONSOLE): $(call obj,$(CONSOLE_SRC))
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

$(BUILD)/bin/rideshare-worker: $(call obj,services/worker/main.c) $(LIBWORKER) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@
$(BUILD)/bin/rideshare-orchestrator: $(call obj,services/orchestrator/main.c) $(LIBORCH) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@
$(BUILD)/bin/rideshare-users: $(call obj,services/users/main.c) $(LIBUSERS) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@
$(BUILD)/bin/rideshare-rides: $(call obj,services/rides/main.c) $(LIBRIDES) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@
$(BUILD)/bin/rideshare-console: $(call obj,console/main.c) $(LIBCONSOLE) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) $(NCURSES_LIBS) -o $@
$(UNITS) $(ITESTS) $(HELPERS): %: %.o $(LIBWORKER) $(LIBORCH) $(LIBUSERS) $(LIBRIDES) $(LIBCONSOLE) $(LIBCOMMON)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) $(NCURSES_LIBS) -o $@
$(BENCHES): %: %.o $(LIBCOMMON)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

asan:
	$(MAKE) BUILD=build/asan OPT=-O1 SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" all

# libFuzzer harness over the request path (clang from Debian).
FUZZ_BIN := build/fuzz/fuzz_request
fuzz: $(FUZZ_BIN)
$(FUZZ_BIN): tests/fuzz/fuzz_request.c common/dbop.c common/dbschema.c common/json.c common/log.c services/worker/sqlgen.c
	@mkdir -p $(dir $@)
	clang -std=c11 -g -O1 -D_GNU_SOURCE -Icommon $(PKG_CFLAGS) \
	  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined $^ $(PKG_LIBS) -lm -o $@

deps:
	@services/infra/deps.sh

test: deps
	@tests/run.sh all

test-unit: deps
	@tests/run.sh unit

run: deps all
	@services/infra/run.sh

bench: deps all
	@bench/run.sh && bench/api.sh && bench/failover.py && bench/scale.py

soak: deps all
	@bench/soak.py

up: deps
	@docker/stack.sh up

down:
	@docker/stack.sh down

logs:
	@docker/stack.sh logs

ps:
	@docker/stack.sh ps

# The admin console; CONSOLE_ARGS go to it (e.g. CONSOLE_ARGS=--read-only, or --once for a
# snapshot). A make run of this checkout keeps its orchestrator's URL in RUN_INFO while it is up
# (services/infra/run.sh), and the console needs nothing else. Without a live make run, the make up
# stack: the console runs in a container on its network (docker/stack.sh console).
# CONSOLE_STACK=run or up chooses instead.
RUN_INFO ?= build/run.env
console:
	@pid=$$(sed -n 's/^RUN_PID=//p' "$(RUN_INFO)" 2>/dev/null); \
	if [ "$(CONSOLE_STACK)" != up ] && [ -n "$$pid" ] && grep -qs 'run\.sh' /proc/$$pid/cmdline; then \
	    ORCH_URL=$$(sed -n 's/^ORCH_URL=//p' "$(RUN_INFO)") exec $(BUILD)/bin/rideshare-console $(CONSOLE_ARGS); \
	elif [ "$(CONSOLE_STACK)" = run ]; then \
	    echo "make console: no make run is up here ($(RUN_INFO))" >&2; exit 1; \
	else exec docker/stack.sh console $(CONSOLE_ARGS); fi

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)

# Backups of the running stack (make up or make run): services/infra/backup.sh, docs/operations.md.
backup:
	@services/infra/backup.sh backup

restore:
	@services/infra/backup.sh restore "$(FILE)"
