# cloudfs build.  `make` builds build/cloudfs; `make check` runs the test
# suite; `make asan` builds an AddressSanitizer/UBSan binary in build-asan/.
PREFIX ?= /usr/local
# systemd reads units from /usr/local/lib/systemd/system too.
UNITDIR ?= $(PREFIX)/lib/systemd/system
BUILD ?= build
CC ?= cc
PKGS = fuse3 sqlite3 libconfig libvirt libxml-2.0 nettle libcurl
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS))
PKG_LIBS := $(shell pkg-config --libs $(PKGS))

CFLAGS ?= -O2 -g
# override: the asan target passes its own CFLAGS on the command line.
# One folder per part, include/ mirroring src/ (see README "Layout of the source").
PARTS := common layout store fs reconcile drivers cli
override CFLAGS += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror $(addprefix -Iinclude/,$(PARTS)) -I$(BUILD) $(PKG_CFLAGS)
# librados/librbd ship no pkg-config file on Debian 12.
override LDLIBS += $(PKG_LIBS) -lrbd -lrados -lpthread -lcrypt

SRCS := $(foreach p,$(PARTS),$(wildcard src/$(p)/*.c))
HDRS := $(foreach p,$(PARTS),$(wildcard include/$(p)/*.h))
OBJS := $(patsubst src/%.c,$(BUILD)/%.o,$(SRCS)) $(BUILD)/layout_data.o
LAYOUT := $(sort $(wildcard fs-layout/*.cfg)) fs-layout/README

.PHONY: all check asan install clean man lint bench torture

all: $(BUILD)/cloudfs

$(BUILD)/cloudfs: $(OBJS)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(OBJS) $(LDLIBS)

$(BUILD)/%.o: src/%.c $(HDRS) | $(BUILD)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/layout_data.c: $(LAYOUT) scripts/embed.sh | $(BUILD)
	sh scripts/embed.sh $@ $(LAYOUT)

$(BUILD)/layout_data.o: $(BUILD)/layout_data.c include/layout/layout.h
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD):
	mkdir -p $(BUILD)

asan:
	$(MAKE) BUILD=build-asan CFLAGS="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined" \
	    LDFLAGS="-fsanitize=address,undefined"

check: all
	scripts/run-tests.sh

# Regenerate the tree reference inside man/cloudfs.7 from the layout.
man: all
	scripts/update-man.sh $(BUILD)/cloudfs man/cloudfs.7

lint:
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
	    --std=c11 $(addprefix -Iinclude/,$(PARTS)) --suppress=missingIncludeSystem src
	clang-tidy --quiet $(SRCS) -- -std=c11 -D_GNU_SOURCE $(addprefix -Iinclude/,$(PARTS)) -Ibuild $(PKG_CFLAGS)

install: all
	install -D -m 0755 $(BUILD)/cloudfs $(DESTDIR)$(PREFIX)/bin/cloudfs
	install -D -m 0644 man/cloudfs.1 $(DESTDIR)$(PREFIX)/share/man/man1/cloudfs.1
	install -D -m 0644 man/cloudfs.conf.5 $(DESTDIR)$(PREFIX)/share/man/man5/cloudfs.conf.5
	install -D -m 0644 man/cloudfs.7 $(DESTDIR)$(PREFIX)/share/man/man7/cloudfs.7
	install -d $(DESTDIR)$(PREFIX)/share/cloudfs/fs-layout
	install -m 0644 $(LAYOUT) $(DESTDIR)$(PREFIX)/share/cloudfs/fs-layout/
	install -d $(DESTDIR)$(UNITDIR)
	for u in scripts/systemd/*.service; do \
	    sed 's#@PREFIX@#$(PREFIX)#g' $$u > $(DESTDIR)$(UNITDIR)/$$(basename $$u) && \
	    chmod 0644 $(DESTDIR)$(UNITDIR)/$$(basename $$u) || exit 1; \
	done

clean:
	rm -rf build build-asan

# Benchmarks (not part of check): ratios against baselines measured in the
# same run; results land in bench/results/.
# `make bench QUICK=1` shrinks the big scenarios tenfold; BENCH_LIST picks
# scenarios (default: every bench/*.sh).  The FUSE floor, the read loop and
# the libvirt C API baseline are built here.
BENCH_TOOLS := $(BUILD)/fusefloor $(BUILD)/readloop $(BUILD)/lvdefine

bench: all $(BENCH_TOOLS)
	BENCH_SCALE=$(if $(QUICK),quick,full) BUILD_DIR=$(abspath $(BUILD)) bench/run.sh $(BENCH_LIST)

$(BUILD)/fusefloor: bench/fusefloor.c | $(BUILD)
	$(CC) -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror $(shell pkg-config --cflags fuse3) -o $@ $< $(shell pkg-config --libs fuse3)

$(BUILD)/readloop: bench/readloop.c | $(BUILD)
	$(CC) -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -o $@ $<

$(BUILD)/lvdefine: bench/lvdefine.c | $(BUILD)
	$(CC) -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror $(shell pkg-config --cflags libvirt) -o $@ $< $(shell pkg-config --libs libvirt)

# The full torture suite (the short one is tests/80-torture-short.bats in check).
torture: all
	scripts/run-tests.sh tests/torture/*.bats
