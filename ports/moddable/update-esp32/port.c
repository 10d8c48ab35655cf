// ESP-IDF calls of the ESP32 update port (port.ts) that XS FFI cannot make directly: they take or return
// pointers to ESP-IDF structures.
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
