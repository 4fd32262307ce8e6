# Rideshare — build, test, run.
#
#   make            build every binary into build/bin
#   make asan       the same with AddressSanitizer + UBSan into build/asan/bin
#   make deps       install the Debian packages needed (root), or say which
#   make test       everything: unit (plain + sanitizers), fuzz, integration
#   make test-unit  the fast part alone
#   make run        RabbitMQ, ZooKeeper, orchestrator and workers on this host
#   make bench      the benchmarks of bench/ (not part of make test; bench/scale.py seeds a
#                   million users: about ten minutes), then their SVG charts in docs/charts
#                   (bench/charts.sh, gnuplot)
#   make soak       1,000,000 writes: bounded disk and memory, recovery time (bench/soak.py)
#   make nemesis    ten minutes of partitions, pauses and kills on the container stack under
#                   load, judged from the history: docs/reliability.md (bench/nemesis.py)
#                   HA=1: on the HA stack, with kills of RabbitMQ and ZooKeeper nodes too, and
#                   the orchestrator faults on the active one: docs/reliability-ha.md
#   make up         the whole stack in containers (docker-compose.yml), gateway on :8080;
#                   HA=1: with docker-compose.ha.yml (3 RabbitMQ nodes, 3 ZooKeeper, 2 orchestrators)
#   make down       stop it and remove everything of it (either topology), workers included
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
           $(PKG_CFLAGS) $(SAN) -MMD -MP
LDFLAGS += $(SAN)
LDLIBS  += $(PKG_LIBS) -lzookeeper_mt -lpthread -lm

obj = $(patsubst %.c,$(BUILD)/%.o,$(1))

# ---- The layers -------------------------------------------------------------------------------
#
# Each folder of sources is a static library. A library's objects are compiled with the include
# path of the folders it may use, and with no other: including across a layer fails to compile.
#
#   common/base     log, clock, config, JSON, checksums            uses nothing of ours
#   common/http     HTTP server, routes, client                    base
#   common/mq       AMQP: connections, publish/consume, files      base
#   common/zk       ZooKeeper session, checkpoint znodes           base
#   common/db       DB operations, schema, backup files            base
#   common/service  a service's start-up and shutdown              base http mq
#   services/rest   what users and rides share: replies, _count,   base http db service
#                   the DB API client, serve()
#   services/*      one program each                               the floor below it
#   console         the admin console                              base http mq zk
#
# $(call library,NAME,FOLDERS,FOLDERS IT MAY INCLUDE): LIB_NAME, its objects and their include path.
define library
LIB_$(1) := $$(BUILD)/lib$(1).a
INC_$(1) := $(2) $(3)
$$(LIB_$(1)): $$(call obj,$$(filter-out %/main.c,$$(foreach d,$(2),$$(wildcard $$(d)/*.c))))
	@mkdir -p $$(dir $$@)
	$$(AR) rcs $$@ $$^
$$(foreach d,$(2),$$(BUILD)/$$(d)/%.o): CPPFLAGS := $$(foreach d,$(2) $(3),-I$$(d))
endef

BASE := common/base
$(eval $(call library,base,common/base,))
$(eval $(call library,http,common/http,$(BASE)))
$(eval $(call library,mq,common/mq,$(BASE)))
$(eval $(call library,zk,common/zk,$(BASE)))
$(eval $(call library,db,common/db,$(BASE)))
$(eval $(call library,service,common/service,$(BASE) common/http common/mq))
$(eval $(call library,rest,services/rest,$(BASE) common/http common/db common/service))
$(eval $(call library,orchestrator,services/orchestrator services/orchestrator/runtime,\
    $(BASE) common/http common/mq common/zk common/db common/service))
$(eval $(call library,worker,services/worker,$(BASE) common/mq common/zk common/db))
$(eval $(call library,users,services/users,$(INC_rest)))
$(eval $(call library,rides,services/rides,$(INC_rest)))
$(eval $(call library,console,console,$(BASE) common/http common/mq common/zk))

# $(call program,BINARY,FOLDER,LIBRARIES it links, from the top layer down)
define program
BINS += $$(BUILD)/bin/$(1)
$$(BUILD)/bin/$(1): $$(call obj,$(2)/main.c) $$(foreach l,$(3),$$(LIB_$$(l)))
	@mkdir -p $$(dir $$@)
	$$(CC) $$(LDFLAGS) $$^ $$(LDLIBS) $$(LIBS_$(1)) -o $$@
endef

FLOOR := service db zk mq http base
$(eval $(call program,rideshare-orchestrator,services/orchestrator,orchestrator $(FLOOR)))
$(eval $(call program,rideshare-worker,services/worker,worker $(FLOOR)))
$(eval $(call program,rideshare-users,services/users,users rest $(FLOOR)))
$(eval $(call program,rideshare-rides,services/rides,rides rest $(FLOOR)))
$(eval $(call program,rideshare-console,console,console $(FLOOR)))

# The console's screen: ncurses (wide-character build).
NCURSES_CFLAGS := $(shell pkg-config --cflags ncursesw 2>/dev/null)
NCURSES_LIBS   := $(or $(shell pkg-config --libs ncursesw 2>/dev/null),-lncursesw)
$(BUILD)/console/%.o: CFLAGS += $(NCURSES_CFLAGS)
LIBS_rideshare-console := $(NCURSES_LIBS)

# ---- Tests, helpers, benchmarks ---------------------------------------------------------------
#
# They see every folder's headers (a test reaches into the part it tests). Each links the
# libraries of the parts it uses (USES_<name>, below) and the floor; the linker takes from
# those archives only what the test calls. The tests' shared harness (test.h) is in tests/lib.
ALL_INC  := $(sort $(foreach l,base http mq zk db service rest orchestrator worker users rides console,$(INC_$(l))))
TEST_INC := $(foreach d,$(ALL_INC) tests/lib,-I$(d))
$(BUILD)/tests/%.o $(BUILD)/bench/%.o: CPPFLAGS := $(TEST_INC)
$(BUILD)/tests/unit/test_console_%.o: CFLAGS += $(NCURSES_CFLAGS)

UNITS   := $(patsubst tests/unit/%.c,$(BUILD)/tests/unit/%,$(wildcard tests/unit/test_*.c))
ITESTS  := $(patsubst tests/integration/%.c,$(BUILD)/tests/integration/%,$(wildcard tests/integration/*.c))
HELPERS := $(patsubst tests/helpers/%.c,$(BUILD)/tests/helpers/%,$(wildcard tests/helpers/*.c))
BENCHES := $(patsubst bench/%.c,$(BUILD)/bench/%,$(wildcard bench/*.c))

USES_test_backup         := worker
USES_test_console_discover := console
USES_test_console_keys   := console
USES_test_console_model  := console
USES_test_console_series := console
USES_test_dbclient       := rest
USES_test_dbclient_silent := rest
USES_test_events         := orchestrator
USES_test_replica        := worker
USES_test_rides_areas    := rides rest
USES_test_rides_req      := rides rest
USES_test_rides_service  := rides rest
USES_test_rides_timestamp := rides rest
USES_test_readcache      := orchestrator
USES_test_runtime        := orchestrator
USES_test_runtime_docker := orchestrator
USES_test_runtime_swarm  := orchestrator
USES_test_scaler         := orchestrator
USES_test_sqlgen         := worker
USES_test_store          := worker
USES_test_store_copy     := worker
USES_test_store_read     := worker
USES_test_worker_links   := worker
USES_test_users_service  := users rest
USES_test_users_valid    := users rest
LIBS_test_console_discover := $(NCURSES_LIBS)
LIBS_test_console_keys   := $(NCURSES_LIBS)
LIBS_test_console_model  := $(NCURSES_LIBS)
LIBS_test_console_series := $(NCURSES_LIBS)

.SECONDEXPANSION:
$(UNITS) $(ITESTS) $(HELPERS) $(BENCHES): %: %.o $$(foreach l,$$(USES_$$(notdir $$*)) $(FLOOR),$$(LIB_$$(l)))
	$(CC) $(LDFLAGS) $^ $(LDLIBS) $(LIBS_$(notdir $*)) -o $@

.PHONY: all asan deps test test-unit run bench soak nemesis clean fuzz up down logs ps console backup restore \
        swarm-up swarm-down swarm-ps
.DEFAULT_GOAL := all
all: $(BINS) $(UNITS) $(ITESTS) $(HELPERS) $(BENCHES)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

asan:
	$(MAKE) BUILD=build/asan OPT=-O1 SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" all

# libFuzzer harness over the request path (clang from Debian).
FUZZ_BIN := build/fuzz/fuzz_request
fuzz: $(FUZZ_BIN)
$(FUZZ_BIN): tests/fuzz/fuzz_request.c common/db/dbop.c common/db/dbschema.c common/base/json.c \
             common/base/log.c services/worker/sqlgen.c
	@mkdir -p $(dir $@)
	clang -std=c11 -g -O1 -D_GNU_SOURCE -Icommon/base -Icommon/db -Iservices/worker $(PKG_CFLAGS) \
	  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined $^ $(PKG_LIBS) -lm -o $@

deps:
	@services/infra/deps.sh

test: deps
	@tests/run.sh all

test-unit: deps
	@tests/run.sh unit

run: deps all
	@services/infra/run.sh

# The charts need gnuplot, which only the benchmarks use: deps.sh bench installs it.
bench: deps all
	@services/infra/deps.sh bench
	@bench/run.sh && bench/api.sh && bench/failover.py && bench/scale.py && bench/charts.sh

soak: deps all
	@bench/soak.py

nemesis: deps all
	@bench/nemesis.py

up: deps
	@docker/stack.sh up

down:
	@docker/stack.sh down

logs:
	@docker/stack.sh logs

ps:
	@docker/stack.sh ps

# The stack on Docker Swarm (docker/swarm-stack.yml; docs/operations.md, "Running on a swarm"):
# this engine must be a manager (SWARM_INIT=1 makes a one-node swarm); SWARM_NODES lists the
# other nodes' engines, which get the images by docker save | docker load.
swarm-up: deps
	@docker/swarm.sh up

swarm-down:
	@docker/swarm.sh down

swarm-ps:
	@docker/swarm.sh ps

# The admin console; CONSOLE_ARGS go to it (e.g. CONSOLE_ARGS=--read-only, or --once for a
# snapshot). A make run of this checkout keeps its orchestrator's URL in RUN_INFO while it is up
# (services/infra/run.sh) with its token and the console's broker identity (user:password, for
# RabbitMQ and ZooKeeper), and the console needs nothing else. Without a live make run, the make up
# stack: the console runs in a container on its network (docker/stack.sh console).
# CONSOLE_STACK=run or up chooses instead.
RUN_INFO ?= build/run.env
console:
	@pid=$$(sed -n 's/^RUN_PID=//p' "$(RUN_INFO)" 2>/dev/null); \
	if [ "$(CONSOLE_STACK)" != up ] && [ -n "$$pid" ] && grep -qs 'run\.sh' /proc/$$pid/cmdline; then \
	    auth=$$(head -n1 "$$(sed -n 's/^CONSOLE_AUTH_FILE=//p' "$(RUN_INFO)")" 2>/dev/null); \
	    if [ -n "$$auth" ]; then export RABBITMQ_USER="$${auth%%:*}" RABBITMQ_PASSWORD="$${auth#*:}" ZK_AUTH="$$auth"; fi; \
	    ORCH_URL=$$(sed -n 's/^ORCH_URL=//p' "$(RUN_INFO)") \
	    ADMIN_TOKEN_FILE=$$(sed -n 's/^ADMIN_TOKEN_FILE=//p' "$(RUN_INFO)") \
	        exec $(BUILD)/bin/rideshare-console $(CONSOLE_ARGS); \
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
