/**
 * Who may see a camera (contract, "Who may call what": cameras are read like devices). Pure:
 * admin, operator, dispatcher and viewer see every camera; an inspector the cameras in the grids
 * assigned to them; a unit the cameras of the cases dispatched to it. Outside that → 404, so a
 * scoped user cannot even learn that a camera exists.
 */
export interface Viewer {
  role: string;
  unitId?: string | null;
  gridCodes?: string[];
}

export function cameraVisible(
  who: Viewer,
  camera: { id: string; gridCode: string | null },
  unitCameras: ReadonlySet<string> | undefined,
): boolean {
  switch (who.role) {
    case 'admin':
    case 'operator':
    case 'dispatcher':
    case 'viewer':
      return true;
    case 'inspector':
      return camera.gridCode !== null && (who.gridCodes ?? []).some((g) => camera.gridCode!.startsWith(g));
    case 'unit':
      return unitCameras?.has(camera.id) ?? false;
    default:
      return false;
  }
}
