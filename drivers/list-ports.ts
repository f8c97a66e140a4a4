/**
 * The serial ports of this machine, as `xbar ports` lists them (through node `serialport`): path,
 * manufacturer, serial number, USB vendor and product ids. Refuses with E604 when the system cannot
 * enumerate its ports (some containers), saying that a device path can still be given directly.
 */
import { ErrorCode } from "../firmware-protocol/constants.ts";
import { errorMessage, XbarError } from "../firmware-protocol/errors.ts";

export interface SerialPortInfo {
  path: string;
  manufacturer?: string;
  serialNumber?: string;
  vendorId?: string;
  productId?: string;
}

export async function listSerialPorts(): Promise<SerialPortInfo[]> {
  const { SerialPort } = await import("serialport");
  try {
    return (await SerialPort.list()).map((p) => ({
      path: p.path,
      manufacturer: p.manufacturer,
      serialNumber: p.serialNumber,
      vendorId: p.vendorId,
      productId: p.productId,
    }));
  } catch (e) {
    throw new XbarError(
      ErrorCode.PORT_NOT_FOUND,
      `this system cannot enumerate serial ports (${errorMessage(e)}); give the device path directly, e.g. --port /dev/ttyUSB0`,
    );
  }
}
