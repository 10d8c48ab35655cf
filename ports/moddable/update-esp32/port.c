// ESP-IDF calls of the ESP32 update port (port.ts) that XS FFI cannot make directly: they take or return
// pointers to ESP-IDF structures, or keep an OTA handle between calls.
#include <stdint.h>
#include <stddef.h>
#include "esp_ota_ops.h"

// Bit 0: the running app partition is ota_1 (else ota_0); bit 1: it is pending verification (a trial boot);
// bit 2: a partition was marked invalid (a trial given up). -1: no running partition.
int32_t gatehouse_ota_boot(void)
{
	const esp_partition_t *running = esp_ota_get_running_partition();
	if (running == NULL)
		return -1;
	int32_t result = (running->subtype == ESP_PARTITION_SUBTYPE_APP_OTA_1) ? 1 : 0;
	esp_ota_img_states_t state;
	if ((esp_ota_get_state_partition(running, &state) == ESP_OK) && (state == ESP_OTA_IMG_PENDING_VERIFY))
		result |= 2;
	if (esp_ota_get_last_invalid_partition() != NULL)
		result |= 4;
	return result;
}

// Marks the running trial app invalid and restarts into the previous one (returns only on failure).
int32_t gatehouse_ota_rollback(void)
{
	return esp_ota_mark_app_invalid_rollback_and_reboot();
}

// The image being written (one at a time): its OTA handle (0: none) and partition.
static esp_ota_handle_t gatehouse_ota = 0;
static const esp_partition_t *gatehouse_ota_partition = NULL;

// Opens the inactive app partition for an image of `size` bytes (an open one is abandoned first).
// resume 0: a new image; esp_ota_begin erases the image's size of the partition.
// resume 1: a download that a restart interrupted goes on. What it wrote is still there and the rest is
// still erased (since the esp_ota_begin that started it), so nothing is erased: esp_ota_resume (ESP-IDF
// 5.5 and later; Moddable 8.2.3 builds with 6.0). erase_size = size (not OTA_WITH_SEQUENTIAL_WRITES): no
// erasing on write either, as writes go where they belong (esp_ota_write_with_offset). image_offset 0:
// the handle's count of bytes written only decides whether esp_ota_end finds anything written, and the
// port does not know how far the agent got; every block from the agent's recorded offset on is written
// again, with the same bytes (the same manifest digest), which flash takes without an erase.
int32_t gatehouse_ota_open(uint32_t size, uint32_t resume)
{
	if (gatehouse_ota != 0) {
		esp_ota_abort(gatehouse_ota);
		gatehouse_ota = 0;
	}
	gatehouse_ota_partition = esp_ota_get_next_update_partition(NULL);
	if (gatehouse_ota_partition == NULL)
		return ESP_ERR_NOT_FOUND;
	if (resume)
		return esp_ota_resume(gatehouse_ota_partition, size, 0, &gatehouse_ota);
	return esp_ota_begin(gatehouse_ota_partition, size, &gatehouse_ota);
}

// Writes `length` bytes of `buffer` (from `byteOffset`) at `offset` of the image.
int32_t gatehouse_ota_write(uint8_t *buffer, uint32_t byteOffset, uint32_t length, uint32_t offset)
{
	if (gatehouse_ota == 0)
		return ESP_ERR_INVALID_STATE;
	return esp_ota_write_with_offset(gatehouse_ota, buffer + byteOffset, length, offset);
}

// esp_ota_end (checks the app image's format; frees the handle whatever it finds), then the partition
// boots next (with rollback enabled: once, pending verification).
int32_t gatehouse_ota_finish(void)
{
	if (gatehouse_ota == 0)
		return ESP_ERR_INVALID_STATE;
	esp_err_t err = esp_ota_end(gatehouse_ota);
	gatehouse_ota = 0;
	if (err != ESP_OK)
		return err;
	return esp_ota_set_boot_partition(gatehouse_ota_partition);
}

// Abandons the image being written (the partition is never made bootable; a new image erases it again).
int32_t gatehouse_ota_abort(void)
{
	if (gatehouse_ota == 0)
		return ESP_OK;
	esp_err_t err = esp_ota_abort(gatehouse_ota);
	gatehouse_ota = 0;
	return err;
}
